"""Header identification follows Canvas's predicates and precedence."""

from __future__ import annotations

import pytest

from gateway.sorting.kinds import SisKind, identify, nearest_kind


@pytest.mark.parametrize(("header", "kind"), [
    (["user_id", "login_id", "status"], SisKind.USER),
    (["USER_ID", " Login_ID ", "Status", "extra"], SisKind.USER),
    (["user_id", "login_id", "existing_user_id"], SisKind.LOGIN),
    (["course_id", "short_name", "long_name", "status"], SisKind.COURSE),
    (["section_id", "course_id", "name", "status"], SisKind.SECTION),
    (["course_id", "user_id", "role", "status"], SisKind.ENROLLMENT),
    (["section_id", "user_integration_id", "role", "status"], SisKind.ENROLLMENT),
    (["term_id", "name", "status"], SisKind.TERM),
    (["account_id", "parent_account_id", "name", "status"], SisKind.ACCOUNT),
    (["old_id", "new_id", "type"], SisKind.CHANGE_SIS_ID),
    (["abstract_course_id", "short_name", "long_name", "status"], SisKind.ABSTRACT_COURSE),
    (["xlist_course_id", "section_id", "status"], SisKind.XLIST),
    (["user_id", "account_id", "role", "status"], SisKind.ADMIN),
    (["observer_id", "student_id", "status"], SisKind.USER_OBSERVER),
])
def test_canvas_kinds_are_identified(header: list[str], kind: SisKind) -> None:
    assert identify(header) is kind


def test_precedence_change_sis_id_wins_over_everything() -> None:
    assert identify(["old_id", "user_id", "login_id"]) is SisKind.CHANGE_SIS_ID


def test_unknown_header_gets_nearest_kind_and_missing_columns() -> None:
    header = ["user_id", "status", "first_name"]
    assert identify(header) is None
    assert nearest_kind(header) == (SisKind.USER, ("login_id",))


def test_a_header_like_no_kind_gets_no_nearest_kind() -> None:
    assert nearest_kind(["foo", "bar"]) is None
    assert nearest_kind(["foo", "status"]) is None  # every kind has a status
    assert nearest_kind(["group_id", "foo"]) == (SisKind.GROUP, ("name", "status"))
