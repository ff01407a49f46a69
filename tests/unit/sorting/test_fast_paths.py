"""The fast paths (plain blocks split flat, quoted blocks through the C ``csv`` reader,
column-wise clean blocks) give exactly what the exact path gives: the same findings, row
numbers, kinds and row counts, on generated CSVs with quotes, CRLF, a BOM, blank and
whitespace-only rows, NULs and malformed quoting at random places."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.sorting.validation import FileVerdict, ValidationOptions, rubycsv, validate_file
from gateway.sorting.validation.rubycsv import _Records
from gateway.sorting.validation.scan import RowScanner

# Each kind's columns with the values a clean export has; BAD holds what may go wrong in
# any cell (drawn now and then, so that most blocks are clean and some are not).
GOOD = {
    "user_id,login_id,status,email,declared_user_type,sortable_name": [
        ["u1", "U2", "u3"], ["l1", "L2"], ["active", "suspended"],
        ["a@b.edu", "", "x.y+z@c-d.org"], ["", "student", "teacher"],
        ['"Last, First"', "Solo", '"a ""b"""']],
    "course_id,user_id,role,status,start_date,section_id": [
        ["c1", "C2"], ["u1", "u2"], ["student", "teacher", "ta"], ["active", "completed"],
        ["", "2024-01-15", "2024-01-15T08:00:00Z"], ["", "s1"]],
}
BAD = ["", "  ", " u3 ", "deleted", "Teacher", "StudentEnrollment", "TeacherEnrollment",
       "not an email", "Student", "2024-13-01", '""', '"x"y', 'a"b', '"open', "x\0y",
       "a,b", "\u00e9t\u00e9"]
ENDING = st.sampled_from(["\n", "\r\n"])
OPTIONS = ValidationOptions(max_findings=500)
SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _spoil(drawn: tuple[tuple[str, ...], int, str]) -> str:
    cells, at, bad = drawn
    return ",".join((*cells[:at], bad, *cells[at + 1:]))


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    ending = draw(ENDING)
    header = draw(st.sampled_from(sorted(GOOD)))
    good = [st.sampled_from(values) for values in GOOD[header]]
    regular = st.tuples(*good).map(",".join)
    spoilt = st.tuples(st.tuples(*good), st.integers(0, len(good) - 1),
                       st.sampled_from(BAD)).map(_spoil)
    odd = st.sampled_from(["", "   ", ",,,,,", " , ,", "u9"])
    rows = draw(st.one_of(
        st.lists(st.one_of(regular, regular, regular, spoilt, odd), max_size=30),
        st.lists(regular, max_size=30).flatmap(  # clean but for one cell
            lambda clean: st.tuples(st.just(clean), spoilt).map(lambda t: [*t[0], t[1]]))))
    text = ending.join([header, *rows]) + draw(st.sampled_from(["", ending]))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    return bom + text.encode()


@contextmanager
def exact_path_only() -> Iterator[None]:
    """Every block through the strict tokenizer and every row through the row rule."""
    with patch.object(_Records, "plain", lambda self, text: False), \
            patch.object(rubycsv, "split_simply_quoted", lambda text, lines, layout: None), \
            patch.object(_Records, "_well_formed", lambda self, lines: False), \
            patch.object(RowScanner, "_columns", lambda self, block: None):
        yield


def summary(verdict: FileVerdict) -> tuple[object, ...]:
    return (verdict.kind, verdict.rows,
            [(f.code, f.row, f.column, f.message) for f in verdict.findings])


@SETTINGS
@given(data=csv_files(), repeat=st.integers(min_value=1, max_value=3))
def test_fast_paths_give_the_exact_paths_findings(tmp_path: Path, data: bytes,
                                                  repeat: int) -> None:
    # Repeating the rows makes files that span several 64 KiB blocks now and then.
    header, _, rows = data.partition(b"\n")
    if rows and not rows.endswith(b"\n"):
        rows += b"\r\n" if header.endswith(b"\r") else b"\n"
    path = tmp_path / "upload.csv"
    path.write_bytes(header + b"\n" + rows * (repeat * 400 if repeat == 3 else repeat))
    fast = validate_file(path, "upload.csv", OPTIONS)
    with exact_path_only():
        exact = validate_file(path, "upload.csv", OPTIONS)
    assert summary(fast) == summary(exact)


@SETTINGS
@given(data=csv_files())
def test_fast_reader_gives_the_strict_tokenizers_rows(data: bytes) -> None:
    """Cell for cell, including columns no rule reads (a quoted "Last, First")."""
    text = data.decode("utf-8-sig", errors="replace")
    separator = rubycsv.detect_row_separator(text)
    try:
        expected: list[list[str]] | None = rubycsv._Reader(text, separator).read_all()
    except rubycsv.MalformedCsvError:
        expected = None
    try:
        found: list[list[str]] | None = rubycsv.parse_rows(text)
    except rubycsv.MalformedCsvError:
        found = None
    assert found == expected
