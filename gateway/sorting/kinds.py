"""SIS CSV kinds, identified by their header row exactly as Canvas does.

Canvas lower-cases the first row and tests each importer's predicate in a fixed order; the
first match wins and that same order is the order Canvas processes the kinds in.  Extra
columns are ignored, so only the columns a predicate names matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum


class SisKind(StrEnum):
    """The Canvas importer types, in Canvas's detection and processing order."""

    CHANGE_SIS_ID = "change_sis_id"
    ACCOUNT = "account"
    TERM = "term"
    ABSTRACT_COURSE = "abstract_course"
    COURSE = "course"
    SECTION = "section"
    XLIST = "xlist"
    USER = "user"
    LOGIN = "login"
    ENROLLMENT = "enrollment"
    ADMIN = "admin"
    GROUP_CATEGORY = "group_category"
    GROUP = "group"
    GROUP_MEMBERSHIP = "group_membership"
    DIFFERENTIATION_TAG_SET = "differentiation_tag_set"
    DIFFERENTIATION_TAG = "differentiation_tag"
    DIFFERENTIATION_TAG_MEMBERSHIP = "differentiation_tag_membership"
    GRADE_PUBLISHING_RESULTS = "grade_publishing_results"
    USER_OBSERVER = "user_observer"


Header = frozenset[str]

_EXISTING_USER_COLUMNS = frozenset(
    {"existing_user_id", "existing_integration_id", "existing_canvas_user_id"}
)


def _all(*columns: str) -> Callable[[Header], bool]:
    return lambda header: all(column in header for column in columns)


def _is_change_sis_id(header: Header) -> bool:
    return "old_id" in header or "old_integration_id" in header


def _is_abstract_course(header: Header) -> bool:
    return _all("abstract_course_id", "short_name")(header) and "course_id" not in header


def _is_user(header: Header) -> bool:
    return _all("user_id", "login_id")(header) and not (header & _EXISTING_USER_COLUMNS)


def _is_login(header: Header) -> bool:
    return bool(header & _EXISTING_USER_COLUMNS)


def _is_enrollment(header: Header) -> bool:
    has_place = "section_id" in header or "course_id" in header
    has_person = "user_id" in header or "user_integration_id" in header
    return has_place and has_person


@dataclass(frozen=True)
class KindRule:
    """One importer: its kind, its header predicate and the columns a sender must supply."""

    kind: SisKind
    matches: Callable[[Header], bool]
    required: tuple[str, ...]


KIND_RULES: tuple[KindRule, ...] = (
    KindRule(SisKind.CHANGE_SIS_ID, _is_change_sis_id, ("old_id", "new_id", "type")),
    KindRule(SisKind.ACCOUNT, _all("account_id", "parent_account_id"),
             ("account_id", "parent_account_id", "name", "status")),
    KindRule(SisKind.TERM, _all("term_id", "name"), ("term_id", "name", "status")),
    KindRule(SisKind.ABSTRACT_COURSE, _is_abstract_course,
             ("abstract_course_id", "short_name", "long_name", "status")),
    KindRule(SisKind.COURSE, _all("course_id", "short_name"),
             ("course_id", "short_name", "long_name", "status")),
    KindRule(SisKind.SECTION, _all("section_id", "name"),
             ("section_id", "course_id", "name", "status")),
    KindRule(SisKind.XLIST, _all("xlist_course_id", "section_id"),
             ("xlist_course_id", "section_id", "status")),
    KindRule(SisKind.USER, _is_user, ("user_id", "login_id", "status")),
    KindRule(SisKind.LOGIN, _is_login, ("user_id", "login_id", "existing_user_id")),
    KindRule(SisKind.ENROLLMENT, _is_enrollment, ("course_id", "user_id", "role", "status")),
    KindRule(SisKind.ADMIN, _all("user_id", "account_id"),
             ("user_id", "account_id", "role", "status")),
    KindRule(SisKind.GROUP_CATEGORY, _all("group_category_id", "category_name"),
             ("group_category_id", "category_name", "status")),
    KindRule(SisKind.GROUP, _all("group_id", "name"), ("group_id", "name", "status")),
    KindRule(SisKind.GROUP_MEMBERSHIP, _all("group_id", "user_id"),
             ("group_id", "user_id", "status")),
    KindRule(SisKind.DIFFERENTIATION_TAG_SET, _all("tag_set_id", "set_name"),
             ("tag_set_id", "course_id", "set_name")),
    KindRule(SisKind.DIFFERENTIATION_TAG, _all("tag_id", "name"), ("tag_id", "name")),
    KindRule(SisKind.DIFFERENTIATION_TAG_MEMBERSHIP, _all("tag_id", "user_id"),
             ("tag_id", "user_id")),
    KindRule(SisKind.GRADE_PUBLISHING_RESULTS, _all("enrollment_id", "grade_publishing_status"),
             ("enrollment_id", "grade_publishing_status")),
    KindRule(SisKind.USER_OBSERVER, _all("observer_id", "student_id"),
             ("observer_id", "student_id", "status")),
)

KIND_ORDER: dict[SisKind, int] = {rule.kind: index for index, rule in enumerate(KIND_RULES)}


def normalise_header(cells: Iterable[str]) -> Header:
    """Return the header as Canvas sees it: stripped, lower-cased, empty cells dropped."""
    return frozenset(cell.strip().lower() for cell in cells if cell.strip())


def identify(cells: Iterable[str]) -> SisKind | None:
    """Return the kind Canvas would import a file with this header row as, or None."""
    header = normalise_header(cells)
    for rule in KIND_RULES:
        if rule.matches(header):
            return rule.kind
    return None


_TOO_COMMON = frozenset({"status"})
"""Required columns so many kinds share that sharing them says nothing about the kind."""


def nearest_kind(cells: Iterable[str]) -> tuple[SisKind, tuple[str, ...]] | None:
    """Return the kind an unrecognised header was probably meant to be, and the required
    columns it lacks; None when it resembles no kind (shares none of any kind's required
    columns but ``status``), since naming an unrelated kind would mislead the sender.

    The kind sharing the most required columns wins, then the one lacking the fewest, then
    Canvas's order.
    """
    header = normalise_header(cells)

    def missing(rule: KindRule) -> tuple[str, ...]:
        return tuple(column for column in rule.required if column not in header)

    def shared(rule: KindRule) -> int:
        return sum(1 for column in rule.required
                   if column in header and column not in _TOO_COMMON)

    best = min(KIND_RULES, key=lambda rule: (-shared(rule), len(missing(rule)),
                                             KIND_ORDER[rule.kind]))
    return (best.kind, missing(best)) if shared(best) else None


def known_headers() -> str:
    """Every kind Canvas knows with the columns its header needs, for a sender whose header
    resembles none: ``change_sis_id (old_id, new_id, type); account (...); ...``."""
    return "; ".join(f"{rule.kind.value} ({', '.join(rule.required)})" for rule in KIND_RULES)
