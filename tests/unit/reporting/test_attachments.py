"""The findings CSV registrars open in a spreadsheet never holds a cell the spreadsheet would
run as a formula (issue 11, item 7)."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from gateway.reporting.attachments import (
    FORMULA_STARTS,
    findings_csv,
    for_people,
    spreadsheet_cell,
)
from gateway.state.records import FindingRecord

PAYLOADS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1,2)", "\t=1", "\r=1"]
CELLS = st.text(st.one_of(st.sampled_from((*FORMULA_STARTS, "'", "a", "1")), st.characters()))


@given(CELLS)
def test_no_cell_starts_a_formula_and_only_a_quote_is_added(value: str) -> None:
    cell = spreadsheet_cell(value)

    assert not cell.startswith(FORMULA_STARTS)
    assert cell in (value, "'" + value)
    assert (cell != value) == value.startswith(FORMULA_STARTS)


def test_ordinary_cells_are_unchanged() -> None:
    for value in ("users.csv", "", "2", "'quoted", " =spaced", "a-b", "Improper status"):
        assert spreadsheet_cell(value) == value


def _rows(findings: list[FindingRecord]) -> list[list[str]]:
    data = findings_csv("batch-000007", findings).data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(data, newline="")))


def test_findings_csv_cells_from_senders_start_with_a_quote() -> None:
    findings = [FindingRecord(payload, 2, payload, f"{payload}: Skipping unknown file type",
                              payload, blocking=False) for payload in PAYLOADS]

    header, *rows = _rows(findings)

    assert header == ["file", "row", "column", "message", "fix", "rejects_file"]
    for payload, row in zip(PAYLOADS, rows, strict=True):
        assert row == ["'" + payload, "2", "'" + payload,
                       f"'{payload}: Skipping unknown file type", "'" + payload, "no"]


def test_findings_csv_keeps_ordinary_findings_as_they_are() -> None:
    finding = FindingRecord("users.csv", 2, "status", "Improper status for user u2",
                            "use active, suspended or deleted", blocking=True)

    assert _rows([finding])[1] == ["users.csv", "2", "status", "Improper status for user u2",
                                   "use active, suspended or deleted", "yes"]


def test_canvas_errors_csv_reaches_senders_with_their_own_names_and_safe_cells() -> None:
    canvas = (b"sis_import_id,file,message,row\n"
              b"4410,b000512-a2-users.csv,\"Improper status for user =cmd|' /C calc'!A0\",3\n"
              b"4410,b000512-a2-users.csv,user b000512-a2-users.csv lacks a login,4\n")
    rows = list(csv.reader(io.StringIO(for_people(canvas).decode("utf-8-sig"), newline="")))
    assert rows[1] == ["4410", "users.csv", "Improper status for user =cmd|' /C calc'!A0",
                       "3"]
    assert rows[2][1:3] == ["users.csv", "user users.csv lacks a login"]
    formula = for_people(b"file,message\nusers.csv,=1+2\n").decode("utf-8-sig")
    assert "'=1+2" in formula
