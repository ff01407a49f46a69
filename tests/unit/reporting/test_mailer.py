"""Mailer pieces that need no network: the .eml folder, targets and error classification.

Delivery over real SMTP is in tests/integration/test_mail_delivery.py.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway.reporting.facts import Outcome
from gateway.reporting.mailer import (
    DeliveryError,
    MailDirectory,
    Mailer,
    SmtpMailer,
    SmtpTarget,
    classify,
    eml_stem,
)
from gateway.reporting.message import compose_message
from gateway.reporting.render import ReportRenderer
from tests.unit.reporting.samples import sample_report


def report_message(message_id: str) -> EmailMessage:
    rendered = ReportRenderer().render(sample_report(Outcome.IMPORTED))
    return compose_message(rendered, sender="gw@example.edu", to=["r@example.edu"],
                           message_id=message_id)


def test_both_mailers_satisfy_the_protocol(tmp_path: Path) -> None:
    mailers: list[Mailer] = [MailDirectory(tmp_path), SmtpMailer(SmtpTarget("localhost"))]

    assert len(mailers) == 2


def test_mail_directory_writes_one_file_per_message_id(tmp_path: Path) -> None:
    folder = MailDirectory(tmp_path / "mail")
    first = report_message("<notice-1@gw.example>")

    folder.send(first)
    folder.send(report_message("<notice-1@gw.example>"))  # a retry of the same notice
    folder.send(report_message("<notice-2@gw.example>"))

    assert sorted(path.name for path in (tmp_path / "mail").iterdir()) == [
        "notice-1@gw.example.eml", "notice-2@gw.example.eml"]
    written = (tmp_path / "mail" / "notice-1@gw.example.eml").read_bytes()
    parsed = email.message_from_bytes(written, policy=email.policy.default)
    assert parsed["Message-ID"] == "<notice-1@gw.example>"
    assert parsed["Subject"] == first["Subject"]
    assert folder.path_for("<notice-1@gw.example>") == tmp_path / "mail" / (
        "notice-1@gw.example.eml")


def test_mail_directory_keeps_hostile_ids_inside_the_folder(tmp_path: Path) -> None:
    folder = MailDirectory(tmp_path / "mail")

    folder.send(report_message("<../../etc/passwd>"))
    folder.send(report_message("<..>"))

    names = [path.name for path in (tmp_path / "mail").iterdir()]
    assert len(names) == 2
    assert all(not name.startswith(".") and "/" not in name for name in names)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mail"]


def test_mail_directory_refuses_a_message_without_id(tmp_path: Path) -> None:
    message = report_message("<n@gw>")
    del message["Message-ID"]

    with pytest.raises(DeliveryError) as caught:
        MailDirectory(tmp_path).send(message)

    assert caught.value.transient is False


def test_mail_directory_write_failure_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")

    with pytest.raises(DeliveryError) as caught:
        MailDirectory(blocker).send(report_message("<n@gw>"))

    assert caught.value.transient is True


@pytest.mark.parametrize(
    ("message_id", "stem"),
    [("<abc.123@host>", "abc.123@host"), ("abc.123@host", "abc.123@host")],
)
def test_eml_stem_keeps_safe_ids_readable(message_id: str, stem: str) -> None:
    assert eml_stem(message_id) == stem


def test_eml_stem_never_merges_distinct_ids() -> None:
    stems = {eml_stem(f"<{text}@gw>") for text in ("a/b", "a_b", "a b", "a\\b", "a:b")}

    assert len(stems) == 5
    assert len(eml_stem("<" + "x" * 500 + "@gw>")) <= 140


def test_smtp_target_hides_password_from_repr() -> None:
    target = SmtpTarget("smtp.example.edu", 587, "starttls", "gw", "s3cret-pass")

    assert "s3cret-pass" not in repr(target)
    assert "gw" in repr(target)


@pytest.mark.parametrize(
    "make",
    [lambda: SmtpTarget(""),
     lambda: SmtpTarget("h", port=0),
     lambda: SmtpTarget("h", timeout_seconds=0),
     lambda: SmtpTarget("h", username="u"),
     lambda: SmtpTarget("h", password="p"),
     lambda: SmtpTarget("h", security="ssl")],  # type: ignore[arg-type]
)
def test_smtp_target_refuses_impossible_settings(make: Callable[[], SmtpTarget]) -> None:
    with pytest.raises(ValueError, match="SMTP"):
        make()


@pytest.mark.parametrize(
    ("error", "transient"),
    [(ConnectionRefusedError(111, "Connection refused"), True),
     (TimeoutError("timed out"), True),
     (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True),
     (smtplib.SMTPConnectError(421, b"too busy"), True),
     (smtplib.SMTPConnectError(554, b"no service for you"), False),
     (smtplib.SMTPDataError(451, b"try later"), True),
     (smtplib.SMTPDataError(552, b"too big"), False),
     (smtplib.SMTPSenderRefused(550, b"no", "gw@x"), False),
     (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),
     (smtplib.SMTPAuthenticationError(454, b"temporary auth failure"), True),
     (smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."), False),
     (smtplib.SMTPException("No suitable authentication method found."), False),
     (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no"), "b@x": (450, b"later")}), True),
     (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no"), "b@x": (553, b"no")}), False),
     (ssl.SSLCertVerificationError("certificate verify failed"), False),
     (ssl.SSLError("handshake interrupted"), True)],
)
def test_errors_are_classified(error: smtplib.SMTPException | OSError, transient: bool) -> None:
    delivery = classify(error, "smtp.example.edu:25")

    assert delivery.transient is transient
    assert "smtp.example.edu:25" in str(delivery)
