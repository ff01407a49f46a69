"""The report mail: structure, headers, and refusal of header injection."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from gateway.reporting.facts import Outcome
from gateway.reporting.message import compose_message
from gateway.reporting.render import RenderedReport, ReportRenderer
from tests.unit.reporting.samples import UNKNOWN, sample_report

SENDER = "SIS Gateway <gateway@example.edu>"


def reparse(message: EmailMessage) -> EmailMessage:
    """Return the message as a receiver sees it: serialised to bytes and parsed back."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(part: EmailMessage) -> str:
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def compose(rendered: RenderedReport, *, sender: str = SENDER,
            to: Sequence[str] = ("registrar@example.edu",),
            cc: Sequence[str] = ("ops@example.edu",),
            message_id: str = "<n-1@gw>") -> EmailMessage:
    """compose_message with defaults, so each test states only what it is about."""
    return compose_message(rendered, sender=sender, to=to, cc=cc, message_id=message_id)


@pytest.fixture
def rendered() -> RenderedReport:
    return ReportRenderer().render(sample_report(Outcome.IMPORTED_WITH_MESSAGES))


def test_message_is_alternative_text_then_html(rendered: RenderedReport) -> None:
    parsed = reparse(compose(rendered))

    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert isinstance(parts[0], EmailMessage)
    assert isinstance(parts[1], EmailMessage)
    assert body(parts[0]) == rendered.text
    assert body(parts[1]).rstrip("\n") == rendered.html.rstrip("\n")


def test_message_headers(rendered: RenderedReport) -> None:
    before = datetime.now(UTC).replace(microsecond=0)

    parsed = reparse(compose(rendered, to=["a@example.edu", "b@example.edu"]))

    assert parsed["From"] == SENDER
    assert parsed["To"] == "a@example.edu, b@example.edu"
    assert parsed["Cc"] == "ops@example.edu"
    assert parsed["Subject"] == rendered.subject
    assert parsed["Message-ID"] == "<n-1@gw>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    sent = parsedate_to_datetime(parsed["Date"])
    assert before <= sent <= datetime.now(UTC) + timedelta(seconds=1)


def test_message_uses_crlf_line_ends(rendered: RenderedReport) -> None:
    raw = compose(rendered).as_bytes()

    assert b"\r\n" in raw
    assert raw.count(b"\n") == raw.count(b"\r\n")


def test_cc_is_optional(rendered: RenderedReport) -> None:
    message = compose_message(rendered, sender=SENDER, to=["a@example.edu"],
                              message_id="<n-2@gw>")

    assert message["Cc"] is None


def test_message_id_gets_angle_brackets(rendered: RenderedReport) -> None:
    assert compose(rendered, message_id="notice-7@gw")["Message-ID"] == "<notice-7@gw>"


def test_injected_subject_stays_one_header() -> None:
    hostile = replace(UNKNOWN, name="users.csv\r\nBcc: evil@x")
    report = replace(sample_report(Outcome.REJECTED), files=(hostile,))
    rendered = ReportRenderer().render(report)

    message = compose(rendered)
    parsed = reparse(message)

    assert parsed["Bcc"] is None
    assert parsed["Subject"] == ("[Rejected] demo upload-000034: users.csv\\r\\nBcc: evil@x "
                                 "rejected: not sent")
    header_names = [name.lower() for name in parsed]
    assert header_names.count("subject") == 1
    assert "bcc" not in header_names


def test_subject_with_crlf_stays_one_header_even_if_it_bypassed_rendering() -> None:
    rendered = RenderedReport(subject="hi\r\nBcc: evil@x\u2028", text="t", html="<p>h</p>")

    parsed = reparse(compose(rendered))

    assert parsed["Subject"] == "hi\\r\\nBcc: evil@x\\u2028"
    assert parsed["Bcc"] is None


def test_non_ascii_names_survive(rendered: RenderedReport) -> None:
    zoe = replace(rendered, subject="[Rejected] demo upload-1: Zoë.csv")

    parsed = reparse(compose(zoe, sender="Zoë's Gateway <gw@example.edu>"))

    assert parsed["Subject"] == "[Rejected] demo upload-1: Zoë.csv"
    assert parsed["From"].addresses[0].display_name == "Zoë's Gateway"


@pytest.mark.parametrize(
    "attempt",
    [lambda r: compose(r, sender="gw@example.edu\r\nBcc: evil@x"),
     lambda r: compose(r, to=["ok@example.edu", "a@example.edu\nBcc: evil@x"]),
     lambda r: compose(r, cc=["ops@example.edu\r"]),
     lambda r: compose(r, message_id="<n-1@gw>\r\nBcc: evil@x"),
     lambda r: compose(r, to=[]),
     lambda r: compose(r, to=[""]),
     lambda r: compose(r, sender="  ")],
)
def test_unsafe_or_missing_addresses_are_refused(
    rendered: RenderedReport, attempt: Callable[[RenderedReport], EmailMessage]
) -> None:
    with pytest.raises(ValueError, match=r"line break|empty|recipient"):
        attempt(rendered)
