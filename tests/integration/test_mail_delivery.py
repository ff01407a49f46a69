"""SmtpMailer against a real SMTP server (aiosmtpd) on 127.0.0.1: plain, STARTTLS with AUTH
LOGIN, implicit TLS, and the failures the notifier must classify."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.reporting.facts import Outcome
from gateway.reporting.mailer import DeliveryError, SmtpMailer, SmtpTarget
from gateway.reporting.message import compose_message
from gateway.reporting.render import RenderedReport, ReportRenderer
from tests.integration.mail_server import HOST, Collector, Received, free_port, smtp_server
from tests.unit.reporting.samples import sample_report

USER = "gateway"
PASSWORD = "correct horse battery staple"
SENDER = "gateway@example.edu"


@dataclass
class Authenticator:
    """Accepts USER/PASSWORD and remembers which mechanism the client used."""

    mechanisms: list[str] = field(default_factory=list)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
              and auth_data.password == PASSWORD.encode())
        # handled=False: let the server send the standard 535 reply on failure.
        return AuthResult(success=ok, handled=False)


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this certificate (hostname still checked)."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


@pytest.fixture
def rendered() -> RenderedReport:
    return ReportRenderer().render(sample_report(Outcome.IMPORTED_WITH_MESSAGES))


def report_message(rendered: RenderedReport, to: tuple[str, ...] = ("registrar@example.edu",)
                   ) -> EmailMessage:
    return compose_message(rendered, sender=SENDER, to=to, cc=["ops@example.edu"],
                           message_id="<notice-12@gw.example.edu>")


def parsed(received: Received) -> EmailMessage:
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def check_report_mail(received: Received, rendered: RenderedReport) -> None:
    """The received mail carries the report's headers and both its parts intact."""
    message = parsed(received)
    assert message["Subject"] == rendered.subject
    assert message["Message-ID"] == "<notice-12@gw.example.edu>"
    assert message["From"] == SENDER
    assert message["Cc"] == "ops@example.edu"
    assert message["Date"] is not None
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.iter_parts()
    assert isinstance(text_part, EmailMessage)
    assert isinstance(html_part, EmailMessage)
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    assert text_part.get_content().replace("\r\n", "\n") == rendered.text
    assert "Canvas warnings (1)" in html_part.get_content()


def test_plain_delivery(rendered: RenderedReport) -> None:
    handler = Collector()
    with smtp_server(handler) as port:
        SmtpMailer(SmtpTarget(HOST, port)).send(report_message(rendered))

    [received] = handler.messages
    assert received.mail_from == SENDER
    assert sorted(received.rcpt_tos) == ["ops@example.edu", "registrar@example.edu"]
    assert received.tls is False
    check_report_mail(received, rendered)


def test_starttls_with_auth_login(rendered: RenderedReport, certificate: Certificate) -> None:
    handler, authenticator = Collector(), Authenticator()
    with smtp_server(handler, tls_context=certificate.server_context(), require_starttls=True,
                     authenticator=authenticator, auth_required=True,
                     auth_exclude_mechanism=["PLAIN"]) as port:
        target = SmtpTarget(HOST, port, "starttls", USER, PASSWORD, timeout_seconds=10)
        SmtpMailer(target, certificate.client_context()).send(report_message(rendered))

    [received] = handler.messages
    assert received.tls is True
    assert authenticator.mechanisms == ["LOGIN"]
    check_report_mail(received, rendered)


def test_implicit_tls(rendered: RenderedReport, certificate: Certificate) -> None:
    handler = Collector()
    with smtp_server(handler, ssl_context=certificate.server_context()) as port:
        target = SmtpTarget(HOST, port, "tls", timeout_seconds=10)
        SmtpMailer(target, certificate.client_context()).send(report_message(rendered))

    [received] = handler.messages
    check_report_mail(received, rendered)


def test_wrong_password_is_permanent_and_never_shown(
    rendered: RenderedReport, certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    handler = Collector()
    wrong = "wrong-Pa55word-do-not-print"
    with smtp_server(handler, tls_context=certificate.server_context(), require_starttls=True,
                     authenticator=Authenticator(), auth_required=True) as port:
        target = SmtpTarget(HOST, port, "starttls", USER, wrong, timeout_seconds=10)
        with pytest.raises(DeliveryError) as caught:
            SmtpMailer(target, certificate.client_context()).send(report_message(rendered))

    assert caught.value.transient is False
    assert "535" in str(caught.value)
    shown = [str(caught.value), repr(caught.value), str(caught.value.__cause__),
             repr(caught.value.__cause__), caplog.text, repr(target)]
    assert not any(wrong in text for text in shown)
    assert handler.messages == []


def test_untrusted_certificate_is_permanent(
    rendered: RenderedReport, certificate: Certificate
) -> None:
    with smtp_server(Collector(), tls_context=certificate.server_context()) as port:
        mailer = SmtpMailer(SmtpTarget(HOST, port, "starttls", timeout_seconds=10))
        with pytest.raises(DeliveryError, match="certificate") as caught:
            mailer.send(report_message(rendered))  # default context: system trust store

    assert caught.value.transient is False


def test_missing_starttls_is_permanent_with_no_plain_fallback(rendered: RenderedReport) -> None:
    handler = Collector()
    with smtp_server(handler) as port:
        mailer = SmtpMailer(SmtpTarget(HOST, port, "starttls", timeout_seconds=10))
        with pytest.raises(DeliveryError, match="STARTTLS") as caught:
            mailer.send(report_message(rendered))

    assert caught.value.transient is False
    assert handler.messages == []


def test_connection_refused_is_transient(rendered: RenderedReport) -> None:
    port = free_port()  # nothing listens there any more

    with pytest.raises(DeliveryError) as caught:
        SmtpMailer(SmtpTarget(HOST, port, timeout_seconds=5)).send(report_message(rendered))

    assert caught.value.transient is True
    assert f"{HOST}:{port}" in str(caught.value)


def test_silent_server_times_out_as_transient(rendered: RenderedReport) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind((HOST, 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        mailer = SmtpMailer(SmtpTarget(HOST, port, timeout_seconds=0.5))
        with pytest.raises(DeliveryError) as caught:
            mailer.send(report_message(rendered))

    assert caught.value.transient is True


def test_recipient_rejected_with_550_is_permanent(rendered: RenderedReport) -> None:
    handler = Collector(refuse_rcpt={
        "registrar@example.edu": "550 5.1.1 No such user",
        "ops@example.edu": "550 5.1.1 No such user"})
    with smtp_server(handler) as port, pytest.raises(DeliveryError, match="550") as caught:
        SmtpMailer(SmtpTarget(HOST, port)).send(report_message(rendered))

    assert caught.value.transient is False
    assert handler.messages == []


def test_data_deferred_with_451_is_transient(rendered: RenderedReport) -> None:
    handler = Collector(data_reply="451 4.3.0 Try again later")
    with smtp_server(handler) as port, pytest.raises(DeliveryError, match="451") as caught:
        SmtpMailer(SmtpTarget(HOST, port)).send(report_message(rendered))

    assert caught.value.transient is True


def test_data_rejected_with_554_is_permanent(rendered: RenderedReport) -> None:
    handler = Collector(data_reply="554 5.6.0 Content rejected")
    with smtp_server(handler) as port, pytest.raises(DeliveryError, match="554") as caught:
        SmtpMailer(SmtpTarget(HOST, port)).send(report_message(rendered))

    assert caught.value.transient is False


def test_partly_refused_recipients_still_count_as_delivered(
    rendered: RenderedReport, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Collector(refuse_rcpt={"ops@example.edu": "550 5.1.1 No such user"})
    with smtp_server(handler) as port:
        SmtpMailer(SmtpTarget(HOST, port)).send(report_message(rendered))

    [received] = handler.messages
    assert received.rcpt_tos == ["registrar@example.edu"]
    assert "ops@example.edu (550 5.1.1 No such user)" in caplog.text
