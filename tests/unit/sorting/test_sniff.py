"""First look at received files: kind and rows, or a problem naming file, row and fix."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from gateway.sorting.sniff import ZIP_KIND, sniff


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_users_csv_with_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfuser_id,login_id,status\r\nu1,l1,active\r\n\r\nu2,l2,active\r\n"
    found = sniff(_file(tmp_path, "u.csv", data), "users.csv")
    assert (found.kind, found.rows, found.problem) == ("user", 2, None)


def test_quoted_newlines_count_as_one_row(tmp_path: Path) -> None:
    data = b'course_id,short_name,long_name,status\nc1,C1,"Long\nname",active\n'
    found = sniff(_file(tmp_path, "c.csv", data), "courses.csv")
    assert found.rows == 1


def test_empty_file_is_rejected_with_reason(tmp_path: Path) -> None:
    found = sniff(_file(tmp_path, "e.csv", b""), "empty.csv")
    assert found.problem is not None
    assert "empty.csv" in found.problem
    assert "0 bytes" in found.problem


def test_invalid_utf8_names_line_and_byte_offset(tmp_path: Path) -> None:
    data = b"user_id,login_id,status\nu1,l1,active\nu2,l\xff2,active\n"
    found = sniff(_file(tmp_path, "u.csv", data), "users.csv")
    assert found.problem is not None
    assert "Invalid UTF-8" in found.problem
    assert "line 3" in found.problem
    offset = data.index(b"\xff")
    assert f"byte offset {offset}" in found.problem


def test_unbalanced_quote_is_malformed_csv(tmp_path: Path) -> None:
    data = b'user_id,login_id,status\nu1,"l1,active\n'
    found = sniff(_file(tmp_path, "u.csv", data), "users.csv")
    assert found.problem is not None
    assert "Malformed CSV" in found.problem


def test_unrecognised_header_names_nearest_kind(tmp_path: Path) -> None:
    found = sniff(_file(tmp_path, "x.csv", b"user_id,status\nu1,active\n"), "people.csv")
    assert found.problem is not None
    assert "Couldn't find Canvas CSV import headers" in found.problem
    assert "user" in found.problem
    assert "login_id" in found.problem


def test_other_extensions_are_rejected(tmp_path: Path) -> None:
    found = sniff(_file(tmp_path, "x", b"user_id,login_id,status\n"), "users.xlsx")
    assert found.problem is not None
    assert ".csv and .zip" in found.problem


def test_zip_is_recognised_and_fake_zip_rejected(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("users.csv", "user_id,login_id,status\n")
    assert sniff(_file(tmp_path, "a", buffer.getvalue()), "all.zip").kind == ZIP_KIND
    fake = sniff(_file(tmp_path, "b", b"user_id,login_id\n"), "all.zip")
    assert fake.problem is not None
    assert "not a zip" in fake.problem
