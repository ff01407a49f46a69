"""Row rules for the structure: accounts, terms, abstract courses, courses, sections,
cross-listings and SIS id changes (reference §4.4).

Sources: `lib/sis/account_importer.rb`, `term_importer.rb`, `abstract_course_importer.rb`,
`course_importer.rb`, `section_importer.rb`, `xlist_importer.rb`,
`change_sis_id_importer.rb`.  Gateway wording: non-ISO dates.
Canvas checks an account's name and status only for accounts it does not have yet; without
Canvas's data every row is taken as new.
"""

from __future__ import annotations

from gateway.sorting.validation.findings import Code
from gateway.sorting.validation.rules import (
    RowProblem,
    RowResult,
    RowRule,
    Values,
    Verdict,
    after_checks,
    date_problem,
    exact,
    improper_status,
    invalid,
    link_rule,
    missing,
    prefix,
)

_ACTIVE_OR_DELETED = prefix("active", "deleted")
_ACTIVE = prefix("active")
_COURSE_STATUS = prefix("active", "deleted", "completed", "unpublished", "published")
_COURSE_FORMAT = prefix("online", "on_campus", "blended", "not_set")
_XLIST_STATUS = exact("active", "deleted")
# `add_course`: `valid_grade_passback_settings.include?(grade_passback_setting.downcase.strip)`
_PASSBACK = frozenset({"nightly_sync", "disabled", "not_set"})
_DATE_OVERRIDE_TYPES = frozenset(
    {"StudentEnrollment", "TeacherEnrollment", "TaEnrollment", "DesignerEnrollment"})
_CHANGE_TYPES = frozenset(
    {"account", "term", "course", "section", "group", "group_category", "user"})


def check_account(values: Values, skip_deletes: bool) -> RowResult:
    """accounts.csv (`SIS::AccountImporter#add_account`); skip_deletes precedes name/status."""
    account_id = values[0].strip()
    if not account_id:
        return missing("account_id", "No account_id given for an account")
    status = values[2].strip()
    if after_checks(status, skip_deletes) is Verdict.SKIP:
        return Verdict.SKIP
    if not values[1].strip():
        return missing("name", f"No name given for account {account_id}, skipping")
    if not _ACTIVE_OR_DELETED.match(status):
        return improper_status(f'Improper status "{status}" for account {account_id}, skipping',
                               "active or deleted")
    return Verdict.IMPORT


ACCOUNT = RowRule(("account_id", "name", "status"), check_account)


def check_term(values: Values, skip_deletes: bool) -> RowResult:
    """terms.csv (`SIS::TermImporter#add_term`); an override row edits an existing term."""
    term_id = values[0].strip()
    if not term_id:
        return missing("term_id", "No term_id given for a term")
    status = values[2].strip()
    if not _ACTIVE_OR_DELETED.match(status):
        return improper_status(f'Improper status "{status}" for term {term_id}',
                               "active or deleted")
    if after_checks(status, skip_deletes) is Verdict.SKIP:
        return Verdict.SKIP
    override = values[3].strip()
    if override:
        if override not in _DATE_OVERRIDE_TYPES:
            return invalid("date_override_enrollment_type", "Invalid date_override_enrollment_type",
                           ", ".join(sorted(_DATE_OVERRIDE_TYPES)))
        return Verdict.IMPORT
    if not values[1].strip():
        return missing("name", f"No name given for term {term_id}")
    return Verdict.IMPORT


def advise_term(values: Values, _roles: frozenset[str]) -> RowProblem | None:
    return date_problem(values, ((4, "start_date"), (5, "end_date")),
                        f"Bad date format for term {values[0].strip()}", lenient=True)


TERM = RowRule(("term_id", "name", "status", "date_override_enrollment_type", "start_date",
                "end_date"), check_term, advise_term, ("start_date", "end_date"))


def check_abstract_course(values: Values, skip_deletes: bool) -> RowResult:
    """abstract_courses.csv (`SIS::AbstractCourseImporter#add_abstract_course`)."""
    course_id = values[0].strip()
    if not course_id:
        return missing("abstract_course_id",
                       "No abstract_course_id given for an abstract course")
    if not values[1].strip():
        return missing("short_name", f"No short_name given for abstract course {course_id}")
    if not values[2].strip():
        return missing("long_name", f"No long_name given for abstract course {course_id}")
    status = values[3].strip()
    if not _ACTIVE_OR_DELETED.match(status):
        return improper_status(f'Improper status "{status}" for abstract course {course_id}',
                               "active or deleted")
    return after_checks(status, skip_deletes)


ABSTRACT_COURSE = RowRule(("abstract_course_id", "short_name", "long_name", "status"),
                          check_abstract_course)


def check_course(values: Values, skip_deletes: bool) -> RowResult:
    """courses.csv (`SIS::CourseImporter#add_course`); names may come from an abstract course."""
    course_id = values[0].strip()
    if not course_id:
        return missing("course_id", "No course_id given for a course")
    from_abstract = bool(values[4].strip())
    if not values[1].strip() and not from_abstract:
        return missing("short_name", f"No short_name given for course {course_id}")
    if not values[2].strip() and not from_abstract:
        return missing("long_name", f"No long_name given for course {course_id}")
    status = values[3].strip()
    if not _COURSE_STATUS.match(status):
        return improper_status(f'Improper status "{status}" for course {course_id}',
                               "active, deleted, completed, published or unpublished")
    course_format = values[5].strip()
    if course_format and not _COURSE_FORMAT.match(course_format):
        return invalid("course_format",
                       f'Invalid course_format "{course_format}" for course {course_id}',
                       "online, on_campus, blended or not_set")
    passback = values[8]
    if passback.strip() and passback.strip().lower() not in _PASSBACK:
        return invalid("grade_passback_setting",
                       f'Invalid grade_passback_setting "{passback.strip()}" for course '
                       f"{course_id}", "nightly_sync, disabled or not_set")
    return after_checks(status, skip_deletes)


def advise_course(values: Values, _roles: frozenset[str]) -> RowProblem | None:
    course_id = values[0].strip()
    return date_problem(values, ((6, "start_date"), (7, "end_date")),
                        f"Bad date format for course {course_id}", allow_delete=True)


COURSE = RowRule(("course_id", "short_name", "long_name", "status", "abstract_course_id",
                  "course_format", "start_date", "end_date", "grade_passback_setting"),
                 check_course, advise_course,
                 ("start_date", "end_date"))


def check_section(values: Values, skip_deletes: bool) -> RowResult:
    """sections.csv (`SIS::SectionImporter#add_section`); a name is needed only when active."""
    section_id = values[0].strip()
    course_id = values[1].strip()
    if not section_id:
        return missing("section_id", f"No section_id given for a section in course {course_id}")
    if not course_id:
        return missing("course_id", f"No course_id given for a section {section_id}")
    status = values[3].strip()
    if not values[2].strip() and _ACTIVE.match(status):
        return missing("name", f"No name given for section {section_id} in course {course_id}")
    if not _ACTIVE_OR_DELETED.match(status):
        return improper_status(
            f'Improper status "{status}" for section {section_id} in course {course_id}',
            "active or deleted")
    return after_checks(status, skip_deletes)


def advise_section(values: Values, _roles: frozenset[str]) -> RowProblem | None:
    return date_problem(values, ((4, "start_date"), (5, "end_date")),
                        f"Bad date format for section {values[0].strip()}")


SECTION = RowRule(("section_id", "course_id", "name", "status", "start_date", "end_date"),
                  check_section, advise_section, ("start_date", "end_date"))


XLIST = link_rule(("xlist_course_id", "section_id"), "a cross-listing", _XLIST_STATUS,
                  "active or deleted (exactly)", exact=True)


def check_change_sis_id(values: Values, _skip_deletes: bool) -> RowResult:
    """change_sis_id.csv (`SIS::ChangeSisIdImporter#process_change_sis_id`)."""
    old_id, old_integration, new_id, new_integration, raw_type = (v.strip() for v in values)
    if not raw_type:
        return missing("type", "No type given for change_sis_id")
    if not old_id and not old_integration:
        return missing("old_id", "No old_id or old_integration_id given for change_sis_id")
    if not new_id and not new_integration:
        return missing("new_id", "No new_id or new_integration_id given for change_sis_id")
    kind = raw_type.lower()
    if kind not in _CHANGE_TYPES:
        return invalid("type", f"Invalid type '{kind}' for change_sis_id",
                       ", ".join(sorted(_CHANGE_TYPES)))
    if kind == "group_category" and (old_integration or new_integration):
        return RowProblem(Code.CONFLICTING_VALUES,
                          "Group categories should not have integration IDs.",
                          "old_integration_id", "change group categories by old_id/new_id only")
    return Verdict.IMPORT


CHANGE_SIS_ID = RowRule(("old_id", "old_integration_id", "new_id", "new_integration_id",
                         "type"), check_change_sis_id)
