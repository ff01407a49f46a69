"""The multipart parser keeps uploaded bytes exactly and reads part headers like email does."""

from __future__ import annotations

import pytest
from urllib3 import encode_multipart_formdata

from gateway.sandbox.multipart import MultipartError, parse_content_type, parse_multipart

# Bytes that trip naive parsers: CRLFs, a leading/trailing CRLF, dashes, NUL, high bytes.
TRICKY = b"\r\n--not-the-boundary\r\nPK\x03\x04\x00\xff\xfe\r\n\r\n--\r\n"


def encoded(fields: dict[str, str | tuple[str, bytes]]) -> tuple[bytes, str]:
    body, content_type = encode_multipart_formdata(fields)
    _, params = parse_content_type(content_type)
    return body, params["boundary"]


def test_file_bytes_survive_exactly_and_fields_are_read() -> None:
    body, boundary = encoded({"import_type": "instructure_csv", "attachment": ("a.zip", TRICKY)})
    first, second = parse_multipart(body, boundary)
    assert (first.name, first.filename, first.data) == ("import_type", None, b"instructure_csv")
    assert (second.name, second.filename, second.data) == ("attachment", "a.zip", TRICKY)


def test_preamble_and_epilogue_are_ignored_and_part_content_type_read() -> None:
    body = (
        b"preamble\r\n--XYZ\r\n"
        b'Content-Disposition: form-data; name="attachment"; filename="C:\\\\tmp\\\\users.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
        b"user_id\r\n--XYZ--\r\nepilogue"
    )
    [part] = parse_multipart(body, "XYZ")
    assert part.filename == "users.csv"
    assert part.content_type == "text/csv"
    assert part.data == b"user_id"


def test_rfc2231_filename_is_decoded() -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="attachment"; '
        b"filename*=UTF-8''r%C3%A9sum%C3%A9.csv\r\n\r\nx\r\n--B--\r\n"
    )
    [part] = parse_multipart(body, "B")
    assert part.filename == "r\u00e9sum\u00e9.csv"


@pytest.mark.parametrize(
    ("body", "boundary"),
    [
        (b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end', "B"),
        (b"no boundary here", "B"),
        (b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--", "B"),
        (b"--B\r\n\r\nx\r\n--B--", ""),
    ],
)
def test_malformed_bodies_raise(body: bytes, boundary: str) -> None:
    with pytest.raises(MultipartError):
        parse_multipart(body, boundary)


def test_content_type_parsing() -> None:
    assert parse_content_type(None) == (None, {})
    assert parse_content_type("  ") == (None, {})
    assert parse_content_type('Text/CSV; Charset="ISO-8859-1"') == (
        "text/csv",
        {"charset": "ISO-8859-1"},
    )
