"""Delivering report mail: over SMTP, or into a folder of ``.eml`` files in demo mode.

Both mailers raise :class:`DeliveryError` only, classified at this boundary: the notifier
retries transient failures later and gives up on permanent ones, deciding by class alone.
Delivery is at-least-once: if the connection drops after the server took the message but
before it said so, the notice is retried and the same Message-ID is sent again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol

from gateway.state.spool import publish_bytes

log = logging.getLogger(__name__)

Security = Literal["plain", "starttls", "tls"]

# Characters kept in .eml file names; everything else becomes "_".
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._@+-]")
_MAX_NAME_STEM = 120


class DeliveryError(Exception):
    """Mail could not be delivered.  ``transient`` says whether trying again later may work.

    Transient: connection refused or reset, timeouts, TLS handshakes cut off, 4xx replies.
    Permanent: 5xx replies, failed authentication, a server lacking STARTTLS or AUTH, a
    certificate that does not verify.  Messages never contain the SMTP password.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class Mailer(Protocol):
    """Sends one message; on return the message has been handed over for good."""

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to its To/Cc recipients; raise DeliveryError on failure."""
        ...


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to submit mail.

    ``security``: ``plain`` (no TLS, for a relay on the same host or network), ``starttls``
    (upgrade on the submission port, usually 587) or ``tls`` (implicit TLS, usually 465).
    Login happens when ``username`` is set.  The password is left out of ``repr`` so the
    target can be logged.
    """

    host: str
    port: int = 25
    security: Security = "plain"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        """Reject settings that could never work, before the first notice needs them."""
        if not self.host:
            raise ValueError("SMTP host is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port out of range: {self.port}")
        if self.security not in ("plain", "starttls", "tls"):
            raise ValueError(f"unknown SMTP security {self.security!r}")
        if self.timeout_seconds <= 0:
            raise ValueError("SMTP timeout must be positive")
        if (self.username is None) != (self.password is None):
            raise ValueError("SMTP username and password must be given together")


class SmtpMailer:
    """Submits each message over a new SMTP connection (reports are few; pooling buys nothing).

    TLS certificates are verified with ``ssl_context`` (default: the system trust store
    and hostname checking).  There is no fallback to plain text when STARTTLS is missing.
    """

    def __init__(self, target: SmtpTarget, ssl_context: ssl.SSLContext | None = None) -> None:
        self._target = target
        self._context = ssl_context if ssl_context is not None else ssl.create_default_context()

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``; raise DeliveryError (classified) if no recipient took it.

        If the server accepts some recipients and refuses others, the message counts as
        delivered (retrying would duplicate it for the accepted ones); the refusals are
        logged as a warning.
        """
        where = f"{self._target.host}:{self._target.port}"
        try:
            refused = self._deliver(message)
        except (smtplib.SMTPException, OSError) as error:
            raise classify(error, where) from error
        if refused:
            log.warning("SMTP server %s refused some recipients: %s", where,
                        "; ".join(f"{rcpt} ({code} {_text(reply)})"
                                  for rcpt, (code, reply) in refused.items()))

    def _deliver(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        """Connect, secure, log in and send; return the recipients refused individually."""
        client = self._connect()
        try:
            if self._target.security == "starttls":
                client.ehlo()
                client.starttls(context=self._context)
                client.ehlo()
            if self._target.username is not None and self._target.password is not None:
                client.login(self._target.username, self._target.password)
            return client.send_message(message)
        finally:
            _close_quietly(client)

    def _connect(self) -> smtplib.SMTP:
        """Open the connection, with implicit TLS when the target says so."""
        target = self._target
        if target.security == "tls":
            return smtplib.SMTP_SSL(target.host, target.port, timeout=target.timeout_seconds,
                                    context=self._context)
        return smtplib.SMTP(target.host, target.port, timeout=target.timeout_seconds)


def _close_quietly(client: smtplib.SMTP) -> None:
    """Say QUIT and close, ignoring errors: the outcome is already decided by then, and a
    failing QUIT after an accepted message must not cause a duplicate send."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def classify(error: smtplib.SMTPException | OSError, where: str) -> DeliveryError:
    """Map an smtplib or socket error to a DeliveryError, deciding whether it is transient."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = error.recipients.values()
        detail = "; ".join(f"{rcpt}: {code} {_text(reply)}"
                           for rcpt, (code, reply) in error.recipients.items())
        # Nothing was sent (smtplib reset the transaction), so a retry cannot duplicate.
        transient = any(_is_transient_code(code) for code, _ in replies)
        return DeliveryError(f"{where} refused every recipient: {detail}", transient=transient)
    if isinstance(error, smtplib.SMTPResponseException):
        # Covers SMTPAuthenticationError: 535 is permanent, 454 ("try later") transient.
        kind = type(error).__name__
        return DeliveryError(f"{where} answered {error.smtp_code} {_text(error.smtp_error)}"
                             f" ({kind})", transient=_is_transient_code(error.smtp_code))
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"{where} closed the connection: {error}", transient=True)
    if isinstance(error, smtplib.SMTPException):
        # STARTTLS or AUTH not offered, no usable AUTH mechanism: a configuration mismatch.
        return DeliveryError(f"{where}: {error}", transient=False)
    if isinstance(error, ssl.SSLCertVerificationError):
        return DeliveryError(f"{where}: TLS certificate not trusted: {error}",
                             transient=False)
    # Refused, reset, timed out, DNS failure, TLS handshake cut off: the network, not us.
    return DeliveryError(f"{where}: {type(error).__name__}: {error}", transient=True)


def _is_transient_code(code: int) -> bool:
    """SMTP 4xx replies mean "try again later"; everything else is final."""
    return 400 <= code < 500


def _text(reply: bytes | str) -> str:
    """Decode an SMTP reply for a message or log line."""
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class MailDirectory:
    """Writes each message as ``<sanitised Message-ID>.eml`` into a folder (demo mode).

    Each write is durable (fsync + rename) and sending the same message again replaces its
    file, so a retried notice leaves one file, as a receiving MTA would deduplicate it.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def send(self, message: EmailMessage) -> None:
        """Write ``message``; raise DeliveryError (permanent) if it has no Message-ID,
        (transient) if the file cannot be written (disk full, permissions being fixed)."""
        message_id = message["Message-ID"]
        if not message_id:
            raise DeliveryError("message has no Message-ID to name its file", transient=False)
        path = self.path_for(str(message_id))
        try:
            publish_bytes(path, message.as_bytes())
        except OSError as error:
            raise DeliveryError(f"cannot write {path}: {error}", transient=True) from error

    def path_for(self, message_id: str) -> Path:
        """Return where a message with ``message_id`` is (or would be) written."""
        return self._directory / f"{eml_stem(message_id)}.eml"


def eml_stem(message_id: str) -> str:
    """Return a safe, deterministic file stem for a Message-ID.

    Unsafe characters become ``_`` and leading dots are dropped (no hidden or ``..`` names).
    When that changed the id, or it was too long, a short hash of the original is appended
    so that two different ids never share a file.
    """
    bare = message_id.strip().strip("<>")
    stem = _UNSAFE_NAME_CHARACTERS.sub("_", bare).lstrip(".")[:_MAX_NAME_STEM]
    if stem != bare or not stem:
        digest = hashlib.sha256(bare.encode("utf-8")).hexdigest()[:12]
        stem = f"{stem}-{digest}" if stem else digest
    return stem
