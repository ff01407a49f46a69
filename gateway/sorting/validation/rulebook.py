"""Every SIS kind's row rule and ids, in one table (the single source for gateway and sandbox).

``RULES`` maps each kind to its Canvas row rule.  ``IDS`` says, per kind, which column
defines an id (and in which id space), which columns make a row's identity for duplicate
detection, and which columns refer to ids of other kinds; the batch check uses these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from gateway.sorting.kinds import SisKind
from gateway.sorting.validation import rules_groups as groups
from gateway.sorting.validation import rules_people as people
from gateway.sorting.validation import rules_structure as structure
from gateway.sorting.validation.rules import RowResult, RowRule

RULES: dict[SisKind, RowRule] = {
    SisKind.CHANGE_SIS_ID: structure.CHANGE_SIS_ID,
    SisKind.ACCOUNT: structure.ACCOUNT,
    SisKind.TERM: structure.TERM,
    SisKind.ABSTRACT_COURSE: structure.ABSTRACT_COURSE,
    SisKind.COURSE: structure.COURSE,
    SisKind.SECTION: structure.SECTION,
    SisKind.XLIST: structure.XLIST,
    SisKind.USER: people.USER,
    SisKind.LOGIN: people.LOGIN,
    SisKind.ENROLLMENT: people.ENROLLMENT,
    SisKind.ADMIN: people.ADMIN,
    SisKind.GROUP_CATEGORY: groups.GROUP_CATEGORY,
    SisKind.GROUP: groups.GROUP,
    SisKind.GROUP_MEMBERSHIP: groups.GROUP_MEMBERSHIP,
    SisKind.DIFFERENTIATION_TAG_SET: groups.DIFFERENTIATION_TAG_SET,
    SisKind.DIFFERENTIATION_TAG: groups.DIFFERENTIATION_TAG,
    SisKind.DIFFERENTIATION_TAG_MEMBERSHIP: groups.DIFFERENTIATION_TAG_MEMBERSHIP,
    SisKind.GRADE_PUBLISHING_RESULTS: groups.GRADE_PUBLISHING_RESULTS,
    SisKind.USER_OBSERVER: people.USER_OBSERVER,
}


def check_row(kind: SisKind, row: Mapping[str, str | None], *, skip_deletes: bool) -> RowResult:
    """Canvas's parse-time verdict on one row given as column -> stripped value (None blank)."""
    rule = RULES[kind]
    return rule.check(tuple(row.get(column) or "" for column in rule.columns), skip_deletes)


class IdSpace(StrEnum):
    """The namespaces SIS ids live in (a course and a user may share an id)."""

    ACCOUNT = "account"
    TERM = "term"
    ABSTRACT_COURSE = "abstract_course"
    COURSE = "course"
    SECTION = "section"
    USER = "user"
    LOGIN = "login"
    GROUP_CATEGORY = "group_category"
    GROUP = "group"
    TAG_SET = "tag_set"
    TAG = "tag"


@dataclass(frozen=True)
class KindIds:
    """Ids of one kind: ``defines`` (column, space), each of ``unique`` must not repeat in a
    file (column, space, lower-cased?), ``key`` the columns of a row's identity when no
    single id column is one, and ``references`` (column, space) to other kinds."""

    defines: tuple[str, IdSpace] | None = None
    unique: tuple[tuple[str, IdSpace, bool], ...] = ()
    key: tuple[str, ...] = ()
    references: tuple[tuple[str, IdSpace], ...] = ()


_COURSE_REF = ("course_id", IdSpace.COURSE)
_USER_REF = ("user_id", IdSpace.USER)
_ACCOUNT_REF = ("account_id", IdSpace.ACCOUNT)

IDS: dict[SisKind, KindIds] = {
    SisKind.CHANGE_SIS_ID: KindIds(key=("type", "old_id", "old_integration_id")),
    SisKind.ACCOUNT: KindIds(("account_id", IdSpace.ACCOUNT),
                             references=(("parent_account_id", IdSpace.ACCOUNT),)),
    SisKind.TERM: KindIds(("term_id", IdSpace.TERM),
                          key=("term_id", "date_override_enrollment_type")),
    SisKind.ABSTRACT_COURSE: KindIds(("abstract_course_id", IdSpace.ABSTRACT_COURSE),
                                     references=(_ACCOUNT_REF, ("term_id", IdSpace.TERM))),
    SisKind.COURSE: KindIds(("course_id", IdSpace.COURSE), references=(
        _ACCOUNT_REF, ("term_id", IdSpace.TERM),
        ("abstract_course_id", IdSpace.ABSTRACT_COURSE))),
    SisKind.SECTION: KindIds(("section_id", IdSpace.SECTION), references=(_COURSE_REF,)),
    SisKind.XLIST: KindIds(key=("section_id",), references=(("section_id", IdSpace.SECTION),)),
    SisKind.USER: KindIds(("user_id", IdSpace.USER),
                          unique=(("login_id", IdSpace.LOGIN, True),)),
    SisKind.LOGIN: KindIds(("user_id", IdSpace.USER),
                           unique=(("login_id", IdSpace.LOGIN, True),),
                           references=(("existing_user_id", IdSpace.USER),)),
    SisKind.ENROLLMENT: KindIds(
        key=("course_id", "section_id", "user_id", "user_integration_id", "role", "role_id",
             "associated_user_id"),
        references=(_COURSE_REF, ("section_id", IdSpace.SECTION), _USER_REF,
                    ("associated_user_id", IdSpace.USER))),
    SisKind.ADMIN: KindIds(key=("user_id", "account_id", "role", "role_id"),
                           references=(_USER_REF, _ACCOUNT_REF)),
    SisKind.GROUP_CATEGORY: KindIds(("group_category_id", IdSpace.GROUP_CATEGORY),
                                    references=(_COURSE_REF, _ACCOUNT_REF)),
    SisKind.GROUP: KindIds(("group_id", IdSpace.GROUP), references=(
        ("group_category_id", IdSpace.GROUP_CATEGORY), _COURSE_REF, _ACCOUNT_REF)),
    SisKind.GROUP_MEMBERSHIP: KindIds(key=("group_id", "user_id"), references=(
        ("group_id", IdSpace.GROUP), _USER_REF)),
    SisKind.DIFFERENTIATION_TAG_SET: KindIds(("tag_set_id", IdSpace.TAG_SET),
                                             references=(_COURSE_REF,)),
    SisKind.DIFFERENTIATION_TAG: KindIds(("tag_id", IdSpace.TAG), references=(
        ("tag_set_id", IdSpace.TAG_SET), _COURSE_REF)),
    SisKind.DIFFERENTIATION_TAG_MEMBERSHIP: KindIds(key=("tag_id", "user_id"), references=(
        ("tag_id", IdSpace.TAG), _USER_REF)),
    SisKind.GRADE_PUBLISHING_RESULTS: KindIds(key=("enrollment_id",)),
    SisKind.USER_OBSERVER: KindIds(key=("observer_id", "student_id"), references=(
        ("observer_id", IdSpace.USER), ("student_id", IdSpace.USER))),
}
