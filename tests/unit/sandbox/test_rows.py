"""Row checks use Canvas's exact messages, order and case-insensitive prefix matching."""

from __future__ import annotations

import pytest

from gateway.sandbox.rows import RowResult, Verdict, check_row
from gateway.sorting.kinds import SisKind


def row(**values: str | None) -> dict[str, str | None]:
    return dict(values)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (row(user_id="u1", login_id="l1", status="active"), Verdict.IMPORT),
        (row(user_id="u1", login_id="l1", status="SUSPENDED"), Verdict.IMPORT),
        (row(user_id="u1", login_id="l1", status="active_ish"), Verdict.IMPORT),
        (row(user_id=None, login_id="l1", status="active"), "No user_id given for a user"),
        (row(user_id="u1", login_id=None, status="active"), "No login_id given for user u1"),
        (row(user_id="u1", login_id="l1", status=None), "No status given for user u1"),
        (row(user_id="u1", login_id="l1", status="gone"), "Improper status for user u1"),
        (row(user_id="u1", login_id="l1", status="inactive"), "Improper status for user u1"),
    ],
)
def test_users(values: dict[str, str | None], expected: RowResult) -> None:
    assert check_row(SisKind.USER, values, skip_deletes=False) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (row(account_id="A1", name="Arts", status="active"), Verdict.IMPORT),
        (row(account_id=None, name="Arts", status="active"), "No account_id given for an account"),
        (
            row(account_id="A1", name=None, status="active"),
            "No name given for account A1, skipping",
        ),
        (
            row(account_id="A1", name="Arts", status="inactive"),
            'Improper status "inactive" for account A1, skipping',
        ),
    ],
)
def test_accounts(values: dict[str, str | None], expected: RowResult) -> None:
    assert check_row(SisKind.ACCOUNT, values, skip_deletes=False) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (row(term_id="T1", name="Fall", status="Active"), Verdict.IMPORT),
        (row(term_id=None, name="Fall", status="active"), "No term_id given for a term"),
        (
            row(term_id="T2", name="Fall", status="inactive"),
            'Improper status "inactive" for term T2',
        ),
        (row(term_id="T3", name=None, status="active"), "No name given for term T3"),
        (row(term_id="T4", name=None, status=None), 'Improper status "" for term T4'),
        (
            row(term_id="T5", name=None, status="active", date_override_enrollment_type="Bogus"),
            "Invalid date_override_enrollment_type",
        ),
        (
            row(
                term_id="T5",
                name=None,
                status="active",
                date_override_enrollment_type="StudentEnrollment",
            ),
            Verdict.IMPORT,
        ),
    ],
)
def test_terms(values: dict[str, str | None], expected: RowResult) -> None:
    assert check_row(SisKind.TERM, values, skip_deletes=False) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (row(course_id="C1", short_name="c", long_name="C", status="published"), Verdict.IMPORT),
        (row(course_id="C1", short_name="c", long_name="C", status="unpublished"), Verdict.IMPORT),
        (
            row(course_id=None, short_name="c", long_name="C", status="active"),
            "No course_id given for a course",
        ),
        (
            row(course_id="C4", short_name=None, long_name="C", status="active"),
            "No short_name given for course C4",
        ),
        (
            row(course_id="C5", short_name="c", long_name=None, status="active"),
            "No long_name given for course C5",
        ),
        (
            row(
                course_id="C6",
                short_name=None,
                long_name=None,
                status="active",
                abstract_course_id="AC",
            ),
            Verdict.IMPORT,
        ),
        (
            row(course_id="C3", short_name="c", long_name="C", status="inactive"),
            'Improper status "inactive" for course C3',
        ),
        (
            row(course_id="C7", short_name="c", long_name="C", status="active", course_format="tv"),
            'Invalid course_format "tv" for course C7',
        ),
    ],
)
def test_courses(values: dict[str, str | None], expected: RowResult) -> None:
    assert check_row(SisKind.COURSE, values, skip_deletes=False) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (row(section_id="S1", course_id="C1", name="S", status="active"), Verdict.IMPORT),
        (row(section_id="S1", course_id="C1", name=None, status="deleted"), Verdict.IMPORT),
        (
            row(section_id="S2", course_id=None, name="S", status="active"),
            "No course_id given for a section S2",
        ),
        (
            row(section_id=None, course_id="C1", name="S", status="active"),
            "No section_id given for a section in course C1",
        ),
        (
            row(section_id="S3", course_id="C2", name="S", status="inactive"),
            'Improper status "inactive" for section S3 in course C2',
        ),
        (
            row(section_id="S4", course_id="C2", name=None, status="active"),
            "No name given for section S4 in course C2",
        ),
    ],
)
def test_sections(values: dict[str, str | None], expected: RowResult) -> None:
    assert check_row(SisKind.SECTION, values, skip_deletes=False) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (row(course_id="C1", user_id="U1", role="student", status="active"), Verdict.IMPORT),
        (
            row(section_id="S1", user_integration_id="I1", status="deleted_last_completed"),
            Verdict.IMPORT,
        ),
        (
            row(course_id=None, section_id=None, user_id="U1", status="active"),
            "No course_id or section_id given for an enrollment",
        ),
        (row(course_id="C1", user_id=None, status="active"), "No user_id given for an enrollment"),
        (
            row(course_id="C1", user_id="U1", status="semi-active"),
            'Improper status "semi-active" for an enrollment',
        ),
    ],
)
def test_enrollments(values: dict[str, str | None], expected: RowResult) -> None:
    assert check_row(SisKind.ENROLLMENT, values, skip_deletes=False) == expected


def test_skip_deletes_skips_deleted_rows_silently_after_the_checks() -> None:
    deleted = row(user_id="u1", login_id="l1", status="Deleted")
    assert check_row(SisKind.USER, deleted, skip_deletes=True) is Verdict.SKIP
    assert check_row(SisKind.USER, deleted, skip_deletes=False) is Verdict.IMPORT
    broken = row(user_id=None, login_id="l1", status="deleted")
    assert check_row(SisKind.USER, broken, skip_deletes=True) == "No user_id given for a user"


def test_skip_deletes_comes_before_the_new_account_checks() -> None:
    values = row(account_id="A1", name=None, status="deleted")
    assert check_row(SisKind.ACCOUNT, values, skip_deletes=True) is Verdict.SKIP


def test_every_kind_has_canvas_checks_now() -> None:
    values = row(xlist_course_id="C1", section_id="S1", status="activated")
    assert check_row(SisKind.XLIST, values, skip_deletes=False) == (
        'Improper status "activated" for a cross-listing')
    values = row(group_id="G1", user_id=None, status="accepted")
    assert check_row(SisKind.GROUP_MEMBERSHIP, values, skip_deletes=False) == (
        "No user_id given for a group user")
