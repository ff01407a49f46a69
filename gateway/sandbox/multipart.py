"""Byte-exact multipart/form-data parsing (RFC 7578 / RFC 2046) on python-multipart.

The sandbox must keep the exact bytes of an uploaded file: python-multipart's streaming
parser cuts the parts; each part's header block then goes through the standard `email`
header parser (quoting, RFC 2231 `filename*=`), as Rack reads them.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

if TYPE_CHECKING:  # python-multipart declares its callback table for type checkers only
    from python_multipart.multipart import MultipartCallbacks


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
    """Return the parts of a multipart body in order.  Raises MultipartError.

    The body is cut by python-multipart's streaming parser (its part data callbacks give
    the exact bytes); a preamble before the first delimiter is skipped as RFC 2046 says.
    """
    if not boundary:
        raise MultipartError("missing boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    if not body.startswith(delimiter):
        found = body.find(b"\r\n" + delimiter)  # anything before is preamble
        if found < 0:
            raise MultipartError("no opening boundary")
        body = body[found + 2:]
    collected = _Collected()
    parser = MultipartParser(boundary.encode("latin-1"), collected.callbacks())
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as error:
        raise MultipartError(str(error) or "malformed body") from None
    if not collected.ended:
        raise MultipartError("unterminated part")
    return [_parse_part(header_block, data) for header_block, data in collected.parts]


class _Collected:
    """What the parser's callbacks hand over: each part's header block and its bytes."""

    def __init__(self) -> None:
        self.parts: list[tuple[bytes, bytes]] = []
        self.ended = False
        self._headers = bytearray()
        self._field = bytearray()
        self._value = bytearray()
        self._data = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        def begin() -> None:
            self._headers.clear()
            self._data.clear()

        def piece(target: bytearray) -> Callable[[bytes, int, int], None]:
            return lambda data, start, end: target.extend(data[start:end])

        def header_end() -> None:
            self._headers.extend(bytes(self._field) + b": " + bytes(self._value) + b"\r\n")
            self._field.clear()
            self._value.clear()

        def part_end() -> None:
            self.parts.append((bytes(self._headers), bytes(self._data)))

        def end() -> None:
            self.ended = True

        return {"on_part_begin": begin, "on_header_field": piece(self._field),
                "on_header_value": piece(self._value), "on_header_end": header_end,
                "on_part_data": piece(self._data), "on_part_end": part_end, "on_end": end,
                "on_headers_finished": lambda: None,
                "on_header_begin": lambda: None}


def _parse_part(header_block: bytes, data: bytes) -> FormPart:
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
