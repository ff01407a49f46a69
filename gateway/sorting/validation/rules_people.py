"""Row rules for people: users, logins, enrollments, admins, observers (reference §4.4).

Sources: `lib/sis/user_importer.rb`, `enrollment_importer.rb`, `admin_importer.rb`,
`user_observer_importer.rb`; the email check is the `email_address_validator` gem's
RFC 2822 ``ADDR_SPEC`` that `user_importer.rb` calls (`emails`).  Gateway wording (no Canvas
message exists): the ``declared_user_type`` enumeration and non-ISO dates.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.sorting.validation.emails import plain_emails, valid_email
from gateway.sorting.validation.findings import Code
from gateway.sorting.validation.rules import (
    RowProblem,
    RowResult,
    RowRule,
    Values,
    Verdict,
    accepted_words,
    after_checks,
    all_present,
    clean_dates,
    date_problem,
    exact,
    improper_status,
    invalid,
    missing,
    prefix,
)

_USER_STATUS = prefix("active", "suspended", "deleted")
_USER_STATUS_WORDS = accepted_words("active", "suspended")
_ENROLLMENT_STATUS = prefix("active", "deleted", "completed", "inactive")
_ENROLLMENT_STATUS_WORDS = accepted_words("active", "completed", "inactive")
_ROLE_WORDS = accepted_words("student", "teacher", "ta", "observer", "designer")
_ACTIVE_OR_DELETED = exact("active", "deleted")
# Canvas's built-in roles: teacher, ta, observer, designer exactly; student* as a prefix.
_BUILT_IN_ROLE = exact("teacher", "student.*", "ta", "observer", "designer")
# The built-in roles' own names, found by Canvas's exact (case-sensitive) name lookup.
_BUILT_IN_ROLE_NAMES = frozenset({"StudentEnrollment", "TeacherEnrollment", "TaEnrollment",
                                  "DesignerEnrollment", "ObserverEnrollment"})
# Pseudonym's `validates :declared_user_type, inclusion:` compares exactly (case matters).
_DECLARED_TYPES = frozenset(
    {"administrative", "observer", "staff", "student", "student_other", "teacher", "<delete>"})

NO_USER_ID = missing("user_id", "No user_id given for a user")


def check_user(values: Values, skip_deletes: bool) -> RowResult:
    """users.csv (`SIS::UserImporter#add_user`)."""
    user_id = values[0].strip()
    if not user_id:
        return NO_USER_ID
    if not values[1].strip():
        return missing("login_id", f"No login_id given for user {user_id}")
    status = values[2]
    if status in _USER_STATUS_WORDS:  # fast path: not deleted, so skip_deletes is moot
        return Verdict.IMPORT
    status = status.strip()
    if not status:
        return missing("status", f"No status given for user {user_id}")
    if not _USER_STATUS.match(status):
        return improper_status(f"Improper status for user {user_id}",
                               "active, suspended or deleted")
    return after_checks(status, skip_deletes)


def advise_user(values: Values, _roles: frozenset[str]) -> RowProblem | None:
    """The email (Canvas warns and leaves it out), then ``declared_user_type``."""
    email = values[4].strip()
    if email and not valid_email(email):
        return invalid("email", f"The email address associated with user "
                       f"'{values[0].strip()}' is invalid (email: '{email}')",
                       "one address like name@example.edu, or leave the cell empty")
    declared = values[3].strip()
    if declared and declared not in _DECLARED_TYPES:
        return invalid("declared_user_type",
                       f'Unknown declared_user_type "{declared}" for user {values[0].strip()}',
                       ", ".join(sorted(_DECLARED_TYPES)) + " (in lower case)")
    return None


def clean_users(columns: Sequence[Sequence[str]]) -> bool:
    """No user row of the block draws a message (see ``Clean``)."""
    user_id, login_id, status, declared, email = columns
    return (all_present(user_id) and all_present(login_id)
            and _USER_STATUS_WORDS.issuperset(status)
            and _DECLARED_TYPES.union(("",)).issuperset(declared) and plain_emails(email))


USER = RowRule(("user_id", "login_id", "status", "declared_user_type", "email"), check_user,
               advise_user, ("declared_user_type", "email"), clean_users)


def check_login(values: Values, _skip_deletes: bool) -> RowResult:
    """logins.csv: the user importer's checks, then an existing user is required."""
    user_id = values[0].strip()
    if not user_id:
        return NO_USER_ID
    if not values[1].strip():
        return missing("login_id", f"No login_id given for user {user_id}")
    if not (values[2].strip() or values[3].strip() or values[4].strip()):
        return missing("existing_user_id",
                       f"No existing user provided for login with SIS ID {user_id}")
    return Verdict.IMPORT  # Canvas forces a login's status to active


LOGIN = RowRule(("user_id", "login_id", "existing_user_id", "existing_integration_id",
                 "existing_canvas_user_id"), check_login)


def check_enrollment(values: Values, skip_deletes: bool) -> RowResult:
    """enrollments.csv (`SIS::EnrollmentImporter#add_enrollment`), parse-time part."""
    if not values[0].strip() and not values[1].strip():
        return missing("course_id", "No course_id or section_id given for an enrollment")
    if not values[2].strip() and not values[3].strip():
        return missing("user_id", "No user_id given for an enrollment")
    status = values[4]
    if status in _ENROLLMENT_STATUS_WORDS:  # fast path: not deleted, so skip_deletes is moot
        return Verdict.IMPORT
    status = status.strip()
    if not _ENROLLMENT_STATUS.match(status):
        return improper_status(f'Improper status "{status}" for an enrollment',
                               "active, deleted, completed, inactive or deleted_last_completed")
    return after_checks(status, skip_deletes)


_ENROLLMENT_DATES = ((7, "start_date"), (8, "end_date"))


def advise_enrollment(values: Values, roles: frozenset[str]) -> RowProblem | None:
    """The role (custom role names exactly, else a built-in) and the dates."""
    role = values[5]
    if role not in _ROLE_WORDS and not values[6].strip() and (role := role.strip()) not in roles \
            and role not in _BUILT_IN_ROLE_NAMES and not _BUILT_IN_ROLE.fullmatch(role):
        return RowProblem(Code.IMPROPER_ROLE, f'Improper role "{role}" for an enrollment',
                          "role", "use student, teacher, ta, observer or designer, or the "
                                  "exact name of a custom role (or give role_id)")
    course = values[0].strip()
    where = f"course {course}" if course else f"section {values[1].strip()}"
    user = values[2].strip() or values[3].strip()
    return date_problem(values, _ENROLLMENT_DATES, f"Bad date format for user {user} in {where}")


def clean_enrollments(columns: Sequence[Sequence[str]]) -> bool:
    """No enrollment row of the block draws a message (see ``Clean``): each row names a
    course and a user, and statuses, roles and dates are among the certainly good values."""
    course, _section, user, _integration, status, role, _role_id, start, end = columns
    return (all_present(course) and all_present(user)
            and _ENROLLMENT_STATUS_WORDS.issuperset(status) and _ROLE_WORDS.issuperset(role)
            and clean_dates(start) and clean_dates(end))


ENROLLMENT = RowRule(
    ("course_id", "section_id", "user_id", "user_integration_id", "status", "role", "role_id",
     "start_date", "end_date"),
    check_enrollment, advise_enrollment, ("role", "role_id", "start_date", "end_date"),
    clean_enrollments)


def check_admin(values: Values, skip_deletes: bool) -> RowResult:
    """admins.csv (`SIS::AdminImporter#process_admin`)."""
    if not values[0].strip():
        return missing("user_id", "No user_id given for admin")
    status = values[1].strip()
    if not status:
        return missing("status", "No status given for admin")
    if not values[2].strip() and not values[3].strip():
        return missing("role", "No role_id or role given for admin")
    if status.lower() not in ("active", "deleted"):
        return improper_status(f"Invalid status {status} for admin", "active or deleted")
    return after_checks(status, skip_deletes)


ADMIN = RowRule(("user_id", "status", "role", "role_id"), check_admin)


def check_user_observer(values: Values, skip_deletes: bool) -> RowResult:
    """user_observers.csv (`SIS::UserObserverImporter#process_user_observer`)."""
    observer = values[0].strip()
    student = values[1].strip()
    if not observer:
        return missing("observer_id", "No observer_id given for a user observer")
    if not student:
        return missing("student_id", "No user_id given for a user observer")
    if student == observer:
        return RowProblem(Code.CONFLICTING_VALUES, f"Can't observe yourself user {student}",
                          "student_id", "an observer must be a different user")
    status = values[2].strip()
    if not _ACTIVE_OR_DELETED.fullmatch(status):
        return improper_status(f'Improper status "{status}" for a user_observer',
                               "active or deleted (exactly)")
    return after_checks(status, skip_deletes)


USER_OBSERVER = RowRule(("observer_id", "student_id", "status"), check_user_observer)
