"""Validating one CSV: bytes, header, syntax, rows, ids (reference §4.1-§4.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sorting.kinds import SisKind
from gateway.sorting.validation import Code, ValidationOptions
from tests.unit.sorting.files import check, messages

USERS = b"user_id,login_id,status\n"


def test_clean_file_has_kind_rows_and_no_findings(tmp_path: Path) -> None:
    verdict = check(tmp_path, USERS + b"u1,l1,active\nu2,l2,active\n")
    assert (verdict.kind, verdict.rows, verdict.total) == (SisKind.USER, 2, 0)
    assert not verdict.failure_class


@pytest.mark.parametrize("data", [
    b"\xef\xbb\xbfUSER_ID , Login_ID,Status\r\nu1,l1,active\r\n\r\nu2,l2,active\r\n",
    b"user_id,login_id,status,extra\ru1,l1,active,x\ru2,l2,active,y",
    b"user_id,login_id,status\n\n\nu1,l1,active\nu2,l2,active",
])
def test_bom_line_ends_case_extra_columns_and_blank_lines(tmp_path: Path, data: bytes) -> None:
    verdict = check(tmp_path, data)
    assert (verdict.kind, verdict.rows, verdict.total) == (SisKind.USER, 2, 0)


def test_row_numbers_count_like_canvas(tmp_path: Path) -> None:
    data = USERS + b'\nu1,"l\n1",active\n\n,l2,active\nu3,l3,\n'
    verdict = check(tmp_path, data)
    assert messages(verdict) == [(3, "user_id", "No user_id given for a user"),
                                 (4, "status", "No status given for user u3")]


def test_invalid_utf8_names_line_and_byte_offset_and_replaces_other_findings(
        tmp_path: Path) -> None:
    data = USERS + b",l1,active\nu2,l\xff2,active\n"
    verdict = check(tmp_path, data)
    [finding] = verdict.findings
    offset = data.index(b"\xff")
    assert finding.code is Code.INVALID_UTF8
    assert finding.message.startswith(f"Invalid UTF-8 (line 3, byte offset {offset}: byte 0xff")
    assert verdict.failure_class
    assert verdict.kind is None


def test_utf8_cut_at_the_end_and_across_chunks(tmp_path: Path) -> None:
    assert check(tmp_path, USERS + b"u1,J\xc3").findings[0].code is Code.INVALID_UTF8
    rows = b"".join(b"u%d,l%d,active\n" % (i, i) for i in range(90_000))
    big = USERS + rows + "u,Jérôme,active\n".encode()
    verdict = check(tmp_path, big)
    assert (verdict.rows, verdict.total) == (90_001, 0)


def test_utf16_export_fails_as_an_unknown_header_and_says_utf16(tmp_path: Path) -> None:
    verdict = check(tmp_path, "user_id,login_id,status\n".encode("utf-16-le"))
    [finding] = verdict.findings
    assert finding.code is Code.UNKNOWN_HEADER
    assert "UTF-16" in finding.fix


@pytest.mark.parametrize("data", [b"", b"\n\n\n", b"\r\n\r\n"])
def test_empty_files_are_refused(tmp_path: Path, data: bytes) -> None:
    verdict = check(tmp_path, data)
    assert [f.code for f in verdict.findings] == [Code.EMPTY_FILE]
    assert verdict.failure_class


def test_header_only_is_a_warning(tmp_path: Path) -> None:
    verdict = check(tmp_path, b"course_id,short_name,long_name,status\n", "courses.csv")
    assert (verdict.kind, verdict.rows) == (SisKind.COURSE, 0)
    assert [f.code for f in verdict.findings] == [Code.HEADER_ONLY]
    assert not verdict.failure_class


def test_unknown_header_names_the_nearest_kind(tmp_path: Path) -> None:
    verdict = check(tmp_path, b"user_id,status,first_name\nu1,active,A\n")
    [finding] = verdict.findings
    assert (finding.code, finding.row, finding.message) == (
        Code.UNKNOWN_HEADER, 1, "Couldn't find Canvas CSV import headers")
    assert "user" in finding.fix
    assert "login_id" in finding.fix


def test_a_header_like_no_kind_is_told_which_headers_canvas_knows(tmp_path: Path) -> None:
    verdict = check(tmp_path, b"foo,bar\n1,2\n")
    [finding] = verdict.findings
    assert finding.code is Code.UNKNOWN_HEADER
    assert "nearest" not in finding.fix
    assert "differentiation_tag (tag_id, name)" in finding.fix
    assert "user (user_id, login_id, status)" in finding.fix


@pytest.mark.parametrize(("data", "line", "row"), [
    (USERS + b",x,active\n" + b'u1,"l1,active\nu2,l2,active\n', 3, 3),
    (USERS + b",x,active\n" * 3 + b'u2,x"y,active\n', 5, 5),
    (USERS + b'u1,"x"y,active\n', 2, 2),
    (b'user_id,login_id,"status\n', 1, 1),
    (b"user_id,login_id,status\r\nu1,x\ny,active\r\n", 2, 2),
    # A quoted line end and a blank line: the row (Canvas's count) differs from the line.
    (USERS + b'u1,"a\nb",active\n\nu2,x"y,active\n', 5, 3),
])
def test_malformed_csv_is_a_failure_and_replaces_row_findings(tmp_path: Path, data: bytes,
                                                              line: int, row: int) -> None:
    verdict = check(tmp_path, data)
    [finding] = verdict.findings
    assert (finding.code, finding.message) == (Code.MALFORMED_CSV, "Malformed CSV")
    assert finding.row == row
    assert f"(line {line} of the file)" in finding.fix
    assert verdict.rows is None


def test_absurdly_long_records_are_refused(tmp_path: Path) -> None:
    options = ValidationOptions(record_limit=1000)
    long_line = check(tmp_path, USERS + b"u1," + b"x" * 2000 + b",active\n", options=options)
    assert [f.code for f in long_line.findings] == [Code.RECORD_TOO_LONG]
    open_quote = check(tmp_path, USERS + b'u1,"' + b"x\n" * 2000, options=options)
    assert [f.code for f in open_quote.findings] == [Code.RECORD_TOO_LONG]
    assert "line 2" in open_quote.findings[0].message


def test_duplicate_columns_warn_and_the_first_wins(tmp_path: Path) -> None:
    verdict = check(tmp_path, b"user_id,login_id,status,status\nu1,l1,active,bogus\n")
    assert [(f.code, f.column) for f in verdict.findings] == [(Code.DUPLICATE_COLUMN, "status")]


def test_short_rows_read_missing_cells_as_blank(tmp_path: Path) -> None:
    verdict = check(tmp_path, USERS + b"u1,l1\n")
    assert messages(verdict) == [(2, "status", "No status given for user u1")]


def test_findings_are_capped_but_counted(tmp_path: Path) -> None:
    options = ValidationOptions(max_findings=5)
    rows = b"".join(b",l%d,active\n" % i for i in range(50))
    verdict = check(tmp_path, USERS + rows, options=options)
    assert len(verdict.findings) == 5
    assert verdict.counts[Code.MISSING_VALUE] == 50
    assert (verdict.total, verdict.omitted) == (50, 45)


def test_duplicates_are_named_with_both_rows(tmp_path: Path) -> None:
    data = USERS + b"u1,a,active\nu2,b,active\n u1 ,c,active\nu3,B,active\n"
    verdict = check(tmp_path, data)
    assert messages(verdict) == [
        (4, "user_id", "Duplicate user_id u1: row 2 has it too; Canvas applies both rows, "
                       "the later one last"),
        (5, "login_id", "Duplicate login_id B: row 3 has it too; Canvas applies both rows, "
                        "the later one last")]


def test_enrollment_duplicates_use_the_row_identity(tmp_path: Path) -> None:
    data = (b"course_id,user_id,role,status\nC1,U1,student,active\nC1,U1,teacher,active\n"
            b"C1,U1,student,deleted\n")
    verdict = check(tmp_path, data, "enrollments.csv")
    assert messages(verdict) == [
        (4, "course_id", "Duplicate course_id C1, user_id U1, role student: row 2 has it too; "
                         "Canvas applies both rows, the later one last")]


def test_repeats_beyond_the_named_ones_are_counted(tmp_path: Path) -> None:
    options = ValidationOptions(named_duplicates=2)
    verdict = check(tmp_path, USERS + b"u1,l,active\n" * 6, options=options)
    user_ids = [f for f in verdict.findings if f.column == "user_id"]
    assert [f.row for f in user_ids] == [3, 4, None]
    assert user_ids[-1].message == "3 more rows repeat an earlier user_id"


def test_id_tracking_is_bounded(tmp_path: Path) -> None:
    options = ValidationOptions(id_rows=2)
    rows = b"".join(b"u%d,l%d,active\n" % (i, i) for i in range(3000))
    verdict = check(tmp_path, USERS + rows + b"u1,l1,active\n", options=options)
    assert verdict.rows == 3001
    assert Code.CHECKS_LIMITED in verdict.counts
    assert Code.DUPLICATE_ID not in verdict.counts


def test_skip_deletes_option_follows_canvas_order(tmp_path: Path) -> None:
    data = b"account_id,parent_account_id,name,status\nA1,,,deleted\n"
    assert check(tmp_path, data, "a.csv").total == 1
    assert check(tmp_path, data, "a.csv", ValidationOptions(skip_deletes=True)).total == 0
