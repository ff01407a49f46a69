"""Per-row checks that Canvas makes before touching its database, with Canvas's messages.

Each checker mirrors the `add_*` method of the matching `lib/sis/*_importer.rb`: the same
checks in the same order, raising (here: returning) the first failing message.  Checks that
need Canvas's stored objects (unknown parent account, missing course, role lookup, ...) are
out of scope: the sandbox keeps no SIS objects.

A row is a mapping from lower-cased header name to its stripped value, `None` when blank,
so "blank" in Ruby (`nil`, empty or whitespace) is simply `None` here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import Enum

from gateway.sorting.kinds import SisKind

Row = Mapping[str, str | None]


class Verdict(Enum):
    """What happens to a row that raised no warning."""

    IMPORT = "import"  # counted in data.counts
    SKIP = "skip"  # skipped silently (skip_deletes with a deleted status)


RowResult = Verdict | str  # a str is the warning message; the row is then not imported

_USER_STATUS = re.compile(r"active|suspended|deleted", re.IGNORECASE)
_ACTIVE_OR_DELETED = re.compile(r"active|deleted", re.IGNORECASE)
_COURSE_STATUS = re.compile(r"active|deleted|completed|unpublished|published", re.IGNORECASE)
_COURSE_FORMAT = re.compile(r"online|on_campus|blended|not_set", re.IGNORECASE)
_ENROLLMENT_STATUS = re.compile(r"active|deleted|completed|inactive", re.IGNORECASE)
_ACTIVE = re.compile(r"active", re.IGNORECASE)
_DELETED = re.compile(r"deleted", re.IGNORECASE)
_DATE_OVERRIDE_TYPES = frozenset(
    {"StudentEnrollment", "TeacherEnrollment", "TaEnrollment", "DesignerEnrollment"}
)


def _text(value: str | None) -> str:
    """Ruby string interpolation of a possibly-nil value."""
    return value or ""


def _prefix(pattern: re.Pattern[str], value: str | None) -> bool:
    """Ruby `/\\Aa|\\Ab/i =~ value`: the value starts with one alternative; nil never matches."""
    return value is not None and pattern.match(value) is not None


def _after_checks(row: Row, skip_deletes: bool) -> Verdict:
    """Canvas's `return if @batch.skip_deletes? && status =~ /deleted/i` (unanchored)."""
    status = row.get("status")
    if skip_deletes and status is not None and _DELETED.search(status):
        return Verdict.SKIP
    return Verdict.IMPORT


def check_user(row: Row, skip_deletes: bool) -> RowResult:
    """users.csv (`SIS::UserImporter#add_user`)."""
    user_id = row.get("user_id")
    if user_id is None:
        return "No user_id given for a user"
    if row.get("login_id") is None:
        return f"No login_id given for user {user_id}"
    status = row.get("status")
    if status is None:
        return f"No status given for user {user_id}"
    if not _prefix(_USER_STATUS, status):
        return f"Improper status for user {user_id}"
    return _after_checks(row, skip_deletes)


def check_account(row: Row, skip_deletes: bool) -> RowResult:
    """accounts.csv (`SIS::AccountImporter#add_account`).

    Canvas checks name and status only for accounts it does not have yet; the sandbox has
    no accounts, so every row is treated as a new account.  skip_deletes comes before those
    checks in Canvas, so it does here too.
    """
    account_id = row.get("account_id")
    if account_id is None:
        return "No account_id given for an account"
    verdict = _after_checks(row, skip_deletes)
    if verdict is Verdict.SKIP:
        return verdict
    if row.get("name") is None:
        return f"No name given for account {account_id}, skipping"
    status = row.get("status")
    if not _prefix(_ACTIVE_OR_DELETED, status):
        return f'Improper status "{_text(status)}" for account {account_id}, skipping'
    return Verdict.IMPORT


def check_term(row: Row, skip_deletes: bool) -> RowResult:
    """terms.csv (`SIS::TermImporter#add_term`).

    A row with `date_override_enrollment_type` only edits an existing term's override; the
    sandbox assumes the term exists and checks the override type only.
    """
    term_id = row.get("term_id")
    if term_id is None:
        return "No term_id given for a term"
    status = row.get("status")
    if not _prefix(_ACTIVE_OR_DELETED, status):
        return f'Improper status "{_text(status)}" for term {term_id}'
    verdict = _after_checks(row, skip_deletes)
    if verdict is Verdict.SKIP:
        return verdict
    override = row.get("date_override_enrollment_type")
    if override is not None:
        return _check_date_override(override)
    if row.get("name") is None:
        return f"No name given for term {term_id}"
    return Verdict.IMPORT


def _check_date_override(override: str) -> RowResult:
    if override not in _DATE_OVERRIDE_TYPES:
        return "Invalid date_override_enrollment_type"
    return Verdict.IMPORT


def check_course(row: Row, skip_deletes: bool) -> RowResult:
    """courses.csv (`SIS::CourseImporter#add_course`); names may come from an abstract course."""
    course_id = row.get("course_id")
    if course_id is None:
        return "No course_id given for a course"
    from_abstract = row.get("abstract_course_id") is not None
    if row.get("short_name") is None and not from_abstract:
        return f"No short_name given for course {course_id}"
    if row.get("long_name") is None and not from_abstract:
        return f"No long_name given for course {course_id}"
    status = row.get("status")
    if not _prefix(_COURSE_STATUS, status):
        return f'Improper status "{_text(status)}" for course {course_id}'
    course_format = row.get("course_format")
    if course_format is not None and not _prefix(_COURSE_FORMAT, course_format):
        return f'Invalid course_format "{course_format}" for course {course_id}'
    return _after_checks(row, skip_deletes)


def check_section(row: Row, skip_deletes: bool) -> RowResult:
    """sections.csv (`SIS::SectionImporter#add_section`); a name is needed only when active."""
    section_id = row.get("section_id")
    course_id = row.get("course_id")
    if section_id is None:
        return f"No section_id given for a section in course {_text(course_id)}"
    if course_id is None:
        return f"No course_id given for a section {section_id}"
    status = row.get("status")
    if row.get("name") is None and _prefix(_ACTIVE, status):
        return f"No name given for section {section_id} in course {course_id}"
    if not _prefix(_ACTIVE_OR_DELETED, status):
        return f'Improper status "{_text(status)}" for section {section_id} in course {course_id}'
    return _after_checks(row, skip_deletes)


def check_enrollment(row: Row, skip_deletes: bool) -> RowResult:
    """enrollments.csv (`SIS::EnrollmentImporter#add_enrollment`), parse-time part only."""
    if row.get("course_id") is None and row.get("section_id") is None:
        return "No course_id or section_id given for an enrollment"
    if row.get("user_id") is None and row.get("user_integration_id") is None:
        return "No user_id given for an enrollment"
    status = row.get("status")
    if not _prefix(_ENROLLMENT_STATUS, status):
        return f'Improper status "{_text(status)}" for an enrollment'
    return _after_checks(row, skip_deletes)


_CHECKERS: dict[SisKind, Callable[[Row, bool], RowResult]] = {
    SisKind.USER: check_user,
    SisKind.ACCOUNT: check_account,
    SisKind.TERM: check_term,
    SisKind.COURSE: check_course,
    SisKind.SECTION: check_section,
    SisKind.ENROLLMENT: check_enrollment,
}


def check_row(kind: SisKind, row: Row, *, skip_deletes: bool) -> RowResult:
    """Return the row's warning message, or whether it is imported or silently skipped.

    Kinds without modelled checks are imported unless skip_deletes drops a deleted row.
    """
    checker = _CHECKERS.get(kind)
    if checker is None:
        return _after_checks(row, skip_deletes)
    return checker(row, skip_deletes)
