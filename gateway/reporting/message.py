"""Composing the mail that carries a rendered report (pure: values in, message out)."""

from __future__ import annotations

import email.policy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from gateway.reporting.render import RenderedReport, text_line

# Characters that would let a value end its header line and start another (header injection).
_LINE_BREAKS = frozenset("\r\n\x00")


# Long lines allowed up to RFC 5322's 998: Python's folder otherwise moves a subject that
# starts with "[" onto a continuation line, which some clients show with a leading space.
_POLICY = email.policy.SMTP.clone(max_line_length=998)


def compose_message(
    rendered: RenderedReport,
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    message_id: str,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """Return a multipart/alternative message: the text part first, then the HTML part;
    with ``attachments`` the alternative sits inside a multipart/mixed with the files after.

    Headers: From, To, Cc (when given), Subject, Date (now, UTC), Message-ID (``message_id``,
    angle brackets added if missing) and ``Auto-Submitted: auto-generated``.  The message uses
    ``email.policy.SMTP`` (CRLF line ends), ready for ``smtplib`` or an ``.eml`` file.
    The caller chooses ``message_id`` so that re-sending the same notice after a crash
    carries the same id and receivers can drop the duplicate.

    The subject's control characters are escaped (:func:`~gateway.reporting.render.text_line`).
    Raises ValueError if there is no recipient, or if an address or the Message-ID is empty
    or contains CR, LF or NUL.
    """
    if not to:
        raise ValueError("a report needs at least one To recipient")
    message = EmailMessage(policy=_POLICY)
    message["From"] = _checked_address(sender)
    message["To"] = ", ".join(_checked_address(address) for address in to)
    if cc:
        message["Cc"] = ", ".join(_checked_address(address) for address in cc)
    # render() already escaped control characters; escaped again (it changes nothing then)
    # so that a subject made elsewhere is one header line too, never a refused message that
    # is retried until its lifetime ends.
    message["Subject"] = text_line(rendered.subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = _bracketed(_checked("Message-ID", message_id))
    # RFC 3834: tells vacation responders and ticket systems not to answer a robot.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        # The file name is an untrusted-derived value: the email package quotes or
        # RFC 2231-encodes it as needed, and we strip anything that could break a line.
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                               filename=_checked("attachment name", attachment.filename))
    return message


@dataclass(frozen=True)
class Attachment:
    """A file attached to a report (findings CSV, Canvas's errors CSV)."""

    filename: str
    data: bytes
    content_type: str = "text/csv"


def _checked_address(address: str) -> str:
    """Return ``address`` if it is safe to put in a header; raise ValueError if not."""
    return _checked("address", address)


def _checked(what: str, value: str) -> str:
    """Return ``value`` stripped; raise ValueError if it is empty or could break a header."""
    if any(character in _LINE_BREAKS for character in value):
        raise ValueError(f"{what} contains a line break or NUL: {value!r}")
    stripped = value.strip()
    if not stripped:
        raise ValueError(f"{what} is empty")
    return stripped


def _bracketed(message_id: str) -> str:
    """Return the Message-ID in the ``<...>`` form RFC 5322 requires."""
    if message_id.startswith("<") and message_id.endswith(">"):
        return message_id
    return f"<{message_id.strip('<>')}>"
