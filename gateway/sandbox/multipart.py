"""A small, byte-exact multipart/form-data parser (RFC 7578 / RFC 2046).

The sandbox must keep the exact bytes of an uploaded file, so parts are cut on the
delimiter `CRLF--boundary` by hand; only each part's header block goes through the standard
`email` header parser (quoting, RFC 2231 `filename*=`).  The `cgi` module is deprecated.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
from dataclasses import dataclass, field
from email.message import Message


class MultipartError(ValueError):
    """The body is not well-formed multipart data for the given boundary."""


@dataclass(frozen=True)
class FormPart:
    """One form field: its name, the filename when it is a file, and its raw bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)


def parse_content_type(value: str | None) -> tuple[str | None, dict[str, str]]:
    """Split a Content-Type into its lower-cased media type and its parameters.

    Returns (None, {}) when the header is absent or empty.
    """
    if value is None or not value.strip():
        return None, {}
    message = Message()
    message["content-type"] = value
    params = message.get_params(header="content-type") or []
    media_type = value.split(";", 1)[0].strip().lower() or None
    return media_type, {
        key.lower(): email.utils.collapse_rfc2231_value(val) for key, val in params[1:]
    }


def parse_multipart(body: bytes, boundary: str) -> list[FormPart]:
    """Return the parts of a multipart body in order.  Raises MultipartError."""
    if not boundary:
        raise MultipartError("missing boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    if body.startswith(delimiter):
        position = 0
    else:
        found = body.find(b"\r\n" + delimiter)  # anything before is preamble
        if found < 0:
            raise MultipartError("no opening boundary")
        position = found + 2
    parts: list[FormPart] = []
    while True:
        position += len(delimiter)
        if body.startswith(b"--", position):
            return parts  # close delimiter; anything after is epilogue
        line_end = body.find(b"\r\n", position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise MultipartError("malformed boundary line")
        start = line_end + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise MultipartError("unterminated part")
        parts.append(_parse_part(body[start:end]))
        position = end + 2


def _parse_part(chunk: bytes) -> FormPart:
    if chunk.startswith(b"\r\n"):
        header_block, data = b"", chunk[2:]
    else:
        split = chunk.find(b"\r\n\r\n")
        if split < 0:
            raise MultipartError("part without a header block")
        header_block, data = chunk[:split], chunk[split + 4 :]
    # Browsers and urllib3 send UTF-8 file names raw; decode leniently rather than fail.
    headers = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(
        header_block.decode("utf-8", errors="replace")
    )
    raw_name = headers.get_param("name", header="content-disposition")
    if not raw_name:
        raise MultipartError("part without a name")
    name = email.utils.collapse_rfc2231_value(raw_name)
    return FormPart(
        name=name,
        filename=_filename(headers),
        content_type=headers.get("content-type"),
        data=data,
    )


def _filename(headers: Message) -> str | None:
    """The file name without any client-side directory (old browsers send full paths)."""
    filename = headers.get_filename()
    if filename is None:
        return None
    return filename.replace("\\", "/").rsplit("/", 1)[-1]
