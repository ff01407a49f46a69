"""One test per check audited against canvas-lms's importers, named after what Canvas does
(the README's validation table lists each with its source)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sorting.kinds import SisKind
from gateway.sorting.validation import Code
from tests.unit.sorting.canvas_check_table import CHECKS, CanvasCheck
from tests.unit.sorting.files import check, messages

USERS = b"user_id,login_id,status,email,declared_user_type\n"


def test_canvas_warns_on_an_invalid_email_and_imports_the_user_without_it(
        tmp_path: Path) -> None:
    verdict = check(tmp_path, USERS + b"u1,l1,active,not an email,\nu2,l2,active,a@b.edu,\n")
    assert messages(verdict) == [
        (2, "email", "The email address associated with user 'u1' is invalid "
                     "(email: 'not an email')")]
    assert not verdict.failure_class


@pytest.mark.parametrize("email", ['"first last"@example.edu', "a@[10.0.0.1]",
                                   "o'brien+x@example.edu", "x@localhost"])
def test_canvas_accepts_every_rfc2822_addr_spec(tmp_path: Path, email: str) -> None:
    data = USERS + b'u1,l1,active,"' + email.replace('"', '""').encode() + b'",\n'
    assert check(tmp_path, data).findings == ()


def test_canvas_skips_only_the_row_holding_a_nul_character(tmp_path: Path) -> None:
    verdict = check(tmp_path, USERS + b"u1,l1,active,,\nu2,l\x002,active,,\nu3,l3,active,,\n")
    assert (verdict.kind, verdict.rows) == (SisKind.USER, 3)
    assert [(f.code, f.row) for f in verdict.findings] == [(Code.NUL_BYTE, 3)]
    assert not verdict.failure_class


@pytest.mark.parametrize(("declared", "flagged"), [("student", False), ("Student", True),
                                                   ("STAFF", True), ("<delete>", False)])
def test_canvas_declared_user_type_inclusion_is_case_sensitive(
        tmp_path: Path, declared: str, flagged: bool) -> None:
    verdict = check(tmp_path, USERS + f"u1,l1,active,,{declared}\n".encode())
    assert [f.column for f in verdict.findings] == (["declared_user_type"] if flagged else [])


@pytest.mark.parametrize("role", ["StudentEnrollment", "TeacherEnrollment", "TaEnrollment",
                                  "DesignerEnrollment", "ObserverEnrollment"])
def test_canvas_finds_built_in_roles_by_their_names(tmp_path: Path, role: str) -> None:
    data = f"course_id,user_id,role,status\nC1,U1,{role},active\n".encode()
    assert check(tmp_path, data, "enrollments.csv").findings == ()


def test_canvas_role_names_match_exactly(tmp_path: Path) -> None:
    data = b"course_id,user_id,role,status\nC1,U1,teacherenrollment,active\n"
    assert messages(check(tmp_path, data, "enrollments.csv")) == [
        (2, "role", 'Improper role "teacherenrollment" for an enrollment')]


def test_canvas_skips_rows_of_blank_cells_but_counts_them(tmp_path: Path) -> None:
    data = USERS + b",,,,\n  , ,\t,,\nu3,,active,,\n"
    assert messages(check(tmp_path, data)) == [(4, "login_id", "No login_id given for user u3")]


def test_canvas_refuses_a_group_row_with_both_course_and_account(tmp_path: Path) -> None:
    data = b"group_id,name,status,course_id,account_id\nG1,Team,available,C1,A1\n"
    assert messages(check(tmp_path, data, "groups.csv")) == [
        (2, "account_id", "Only one context is allowed and both course_id and account_id "
                          "where provided for group G1.")]


@pytest.mark.parametrize(("setting", "message"), [
    ("weekly", 'Invalid grade_passback_setting "weekly" for course C1'),
    (" Nightly_Sync ", None), ("not_set", None)])
def test_canvas_skips_a_course_with_an_invalid_grade_passback_setting(
        tmp_path: Path, setting: str, message: str | None) -> None:
    data = (b"course_id,short_name,long_name,status,grade_passback_setting\n"
            + f"C1,c,Course,active,{setting}\n".encode())
    found = messages(check(tmp_path, data, "courses.csv"))
    assert found == ([(2, "grade_passback_setting", message)] if message else [])


@pytest.mark.parametrize("audited", CHECKS, ids=[c.case for c in CHECKS])
def test_canvas_row_check(tmp_path: Path, audited: CanvasCheck) -> None:
    """Each audited check gives Canvas's message on Canvas's column, or nothing when Canvas
    imports the row (see canvas_check_table.py for the source of each)."""
    data = f"{audited.header}\n{audited.row}\n".encode()
    verdict = check(tmp_path, data, audited.file)
    found = [(column, message) for row, column, message in messages(verdict)]
    assert found == list(audited.expected)
    assert not verdict.failure_class
