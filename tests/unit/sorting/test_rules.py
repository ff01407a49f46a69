"""Row rules per kind: Canvas's messages, columns and order (reference §4.4)."""

from __future__ import annotations

import pytest

from gateway.sorting.kinds import SisKind
from gateway.sorting.validation.findings import Code
from gateway.sorting.validation.rulebook import RULES, check_row
from gateway.sorting.validation.rules import RowProblem, Verdict


def problem(kind: SisKind, **values: str) -> RowProblem:
    result = check_row(kind, values, skip_deletes=False)
    assert isinstance(result, RowProblem), result
    return result


def advice(kind: SisKind, roles: frozenset[str] = frozenset(),
           **values: str) -> RowProblem | None:
    rule = RULES[kind]
    assert rule.advise is not None
    return rule.advise(tuple(values.get(c, "") for c in rule.columns), roles)


@pytest.mark.parametrize(("kind", "values", "message", "column"), [
    (SisKind.USER, {"login_id": "l", "status": "active"}, "No user_id given for a user",
     "user_id"),
    (SisKind.LOGIN, {"user_id": "u1", "login_id": "l"},
     "No existing user provided for login with SIS ID u1", "existing_user_id"),
    (SisKind.ENROLLMENT, {"user_id": "u", "status": "active"},
     "No course_id or section_id given for an enrollment", "course_id"),
    (SisKind.ENROLLMENT, {"course_id": "c", "user_id": "u", "status": "pending"},
     'Improper status "pending" for an enrollment', "status"),
    (SisKind.ADMIN, {"user_id": "u", "status": "active"},
     "No role_id or role given for admin", "role"),
    (SisKind.ADMIN, {"user_id": "u", "status": "activeish", "role": "AccountAdmin"},
     "Invalid status activeish for admin", "status"),
    (SisKind.USER_OBSERVER, {"observer_id": "u1", "student_id": "u1", "status": "active"},
     "Can't observe yourself user u1", "student_id"),
    (SisKind.USER_OBSERVER, {"observer_id": "o", "student_id": "s", "status": "active_ish"},
     'Improper status "active_ish" for a user_observer', "status"),
    (SisKind.ABSTRACT_COURSE, {"abstract_course_id": "A", "short_name": "a",
                               "status": "active"},
     "No long_name given for abstract course A", "long_name"),
    (SisKind.XLIST, {"xlist_course_id": "X", "status": "active"},
     "No section_id given for a cross-listing", "section_id"),
    (SisKind.CHANGE_SIS_ID, {"old_id": "a", "new_id": "b", "type": " Teacher "},
     "Invalid type 'teacher' for change_sis_id", "type"),
    (SisKind.CHANGE_SIS_ID, {"old_id": "a", "new_integration_id": "b",
                             "type": "group_category"},
     "Group categories should not have integration IDs.", "old_integration_id"),
    (SisKind.CHANGE_SIS_ID, {"new_id": "b", "type": "user"},
     "No old_id or old_integration_id given for change_sis_id", "old_id"),
    (SisKind.GROUP_CATEGORY, {"group_category_id": "G", "category_name": "n",
                              "status": "active", "course_id": "c", "account_id": "a"},
     "Only one context is allowed and both course_id and account_id where provided for "
     "group category G.", "account_id"),
    (SisKind.GROUP_CATEGORY, {"category_name": "n", "status": "active"},
     "No sis_id given for a group category", "group_category_id"),
    (SisKind.GROUP, {"group_id": "G", "name": "n", "status": "open"},
     'Improper status "open" for group G.', "status"),
    (SisKind.GROUP_MEMBERSHIP, {"user_id": "u", "status": "accepted"},
     "No group_id given for a group user", "group_id"),
    (SisKind.DIFFERENTIATION_TAG_SET, {"tag_set_id": "TS", "set_name": "s",
                                       "status": "active"},
     "No course_id given for differentiation tag set TS", "course_id"),
    (SisKind.DIFFERENTIATION_TAG, {"tag_id": "T", "name": "n", "status": "blerged"},
     'Improper status "blerged" for differentiation tag T.', "status"),
    (SisKind.DIFFERENTIATION_TAG_MEMBERSHIP, {"user_id": "u"},
     "No tag_id given for a differentiation tag user", "tag_id"),
    (SisKind.GRADE_PUBLISHING_RESULTS, {"enrollment_id": "1"},
     "No grade_publishing_status given for enrollment 1",
     "grade_publishing_status"),
])
def test_canvas_messages_and_columns(kind: SisKind, values: dict[str, str], message: str,
                                     column: str) -> None:
    found = problem(kind, **values)
    assert (found.message, found.column) == (message, column)
    assert found.fix


def test_status_prefix_matching_is_case_insensitive_but_xlists_are_exact() -> None:
    ok = {"user_id": "u", "login_id": "l"}
    assert check_row(SisKind.USER, {**ok, "status": "ACTIVE_ish"},
                     skip_deletes=False) is Verdict.IMPORT
    xlist = {"xlist_course_id": "X", "section_id": "S"}
    assert check_row(SisKind.XLIST, {**xlist, "status": "Deleted"},
                     skip_deletes=False) is Verdict.IMPORT
    assert problem(SisKind.XLIST, **xlist, status="deleted_now").code is Code.IMPROPER_STATUS


def test_either_or_columns() -> None:
    section_only = {"section_id": "S", "user_integration_id": "I", "status": "active"}
    assert check_row(SisKind.ENROLLMENT, section_only, skip_deletes=False) is Verdict.IMPORT
    login = {"user_id": "u", "login_id": "l", "existing_canvas_user_id": "7"}
    assert check_row(SisKind.LOGIN, login, skip_deletes=False) is Verdict.IMPORT
    admin = {"user_id": "u", "status": "active", "role_id": "3"}
    assert check_row(SisKind.ADMIN, admin, skip_deletes=False) is Verdict.IMPORT


@pytest.mark.parametrize(("role", "role_id", "roles", "bad"), [
    ("student", "", frozenset(), False),
    ("StudentEnrollment", "", frozenset(), False),  # student* is a prefix
    ("Teacher", "", frozenset(), False),
    ("teacher_aide", "", frozenset(), True),  # teacher must be exact
    ("Mentor", "", frozenset({"Mentor"}), False),  # custom roles match exactly
    ("mentor", "", frozenset({"Mentor"}), True),
    ("", "", frozenset(), True),
    ("anything", "12", frozenset(), False),  # role_id wins; Canvas looks it up
])
def test_enrollment_roles(role: str, role_id: str, roles: frozenset[str], bad: bool) -> None:
    found = advice(SisKind.ENROLLMENT, roles, course_id="C", user_id="U", role=role,
                   role_id=role_id)
    assert (found is not None) == bad
    if found is not None:
        assert found.message == f'Improper role "{role}" for an enrollment'


@pytest.mark.parametrize(("kind", "values", "code", "message"), [
    (SisKind.ENROLLMENT, {"course_id": "C", "user_id": "U", "role": "student",
                          "start_date": "2024-13-01"},
     Code.BAD_DATE, "Bad date format for user U in course C"),
    (SisKind.ENROLLMENT, {"section_id": "S", "user_id": "U", "role": "student",
                          "end_date": "soon"},
     Code.BAD_DATE, "Bad date format for user U in section S"),
    (SisKind.COURSE, {"course_id": "C", "end_date": "2024-02-30"},
     Code.BAD_DATE, "Bad date format for course C"),
    (SisKind.SECTION, {"section_id": "S", "start_date": "Jan 5 2024"},
     Code.INVALID_VALUE, 'start_date "Jan 5 2024" is not an ISO 8601 date'),
    (SisKind.TERM, {"term_id": "T", "start_date": "someday"},
     Code.INVALID_VALUE, 'start_date "someday" has no date in it; Canvas will clear the date'),
    (SisKind.TERM, {"term_id": "T", "end_date": "2024-00-10"},
     Code.BAD_DATE, "Bad date format for term T"),
    (SisKind.USER, {"user_id": "U", "declared_user_type": "robot"},
     Code.INVALID_VALUE, 'Unknown declared_user_type "robot" for user U'),
])
def test_processing_time_advice(kind: SisKind, values: dict[str, str], code: Code,
                                message: str) -> None:
    found = advice(kind, frozenset(), **values)
    assert found is not None
    assert (found.code, found.message) == (code, message)


@pytest.mark.parametrize("value", ["2024-01-15", "2024-1-5 00:00:00", "2024-01-15T08:00:00Z",
                                   "2013-05-03 00:00:00-06:00", "2024/01/15", ""])
def test_valid_dates_pass(value: str) -> None:
    assert advice(SisKind.SECTION, section_id="S", start_date=value, end_date=value) is None
    assert advice(SisKind.COURSE, course_id="C", end_date="<delete>") is None


def test_skip_deletes_skips_before_a_group_category_conflict() -> None:
    values = {"group_category_id": "G", "category_name": "n", "status": "deleted",
              "course_id": "c", "account_id": "a"}
    assert check_row(SisKind.GROUP_CATEGORY, values, skip_deletes=True) is Verdict.SKIP


def test_every_kind_has_a_rule() -> None:
    assert set(RULES) == set(SisKind)
