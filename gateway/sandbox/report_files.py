"""The files the sandbox's account reports produce, in Canvas's column layout.

Built from the SIS objects the sandbox keeps from imports (sisobjects.py: terms, courses,
sections, enrollments; users are the people the enrollments name).  The sandbox keeps no
names, dates or logins, so those columns are empty (a login id is the user's SIS id), and
Canvas ids are numbers derived from the SIS ids, stable across runs.  Headers and column
order follow canvas-lms ``gems/plugins/account_reports/lib/account_reports/``:

- ``provisioning_csv``: sis_exporter.rb, the provisioning (non-SIS-format) headers;
- ``sis_export_csv``: sis_exporter.rb, the SIS-format headers (importable again);
- ``grade_export_csv``: grade_reports.rb ``grade_export`` (no integration id or override
  columns: those depend on account settings the sandbox does not have); scores are seeded
  from the student and course ids, so every run gives the same grades;
- ``last_user_access_csv``: student_reports.rb ``last_user_access``;
- ``outcome_results_csv``: improved_outcome_reports/outcome_results_report.rb ``HEADERS``
  (the sandbox keeps no outcomes: the header and no rows).

``parameters[enrollment_term_id]`` scopes courses, sections and enrollments (and the grades)
to that term, as ``ReportHelper#add_term_scope``; an unknown term ends the run in error.
One CSV is the report's file; several (a provisioning or SIS export of more than one kind)
are zipped, one member per kind (``users.csv``...), as ``send_report`` does with a hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable
from typing import Any

SIS_CSVS = ("users", "accounts", "terms", "courses", "sections", "enrollments", "groups",
            "group_membership", "xlist")
PROVISIONING = {
    "users": ["canvas_user_id", "user_id", "login_id", "first_name", "last_name", "full_name",
              "sortable_name", "short_name", "email", "status", "created_by_sis"],
    "accounts": ["canvas_account_id", "account_id", "canvas_parent_id", "parent_account_id",
                 "name", "status", "created_by_sis"],
    "terms": ["canvas_term_id", "term_id", "name", "status", "start_date", "end_date",
              "created_by_sis"],
    "courses": ["canvas_course_id", "course_id", "short_name", "long_name",
                "canvas_account_id", "account_id", "canvas_term_id", "term_id", "status",
                "start_date", "end_date", "created_by_sis"],
    "sections": ["canvas_section_id", "section_id", "canvas_course_id", "course_id", "name",
                 "status", "start_date", "end_date", "canvas_account_id", "account_id",
                 "created_by_sis"],
    "enrollments": ["canvas_course_id", "course_id", "canvas_user_id", "user_id", "role",
                    "role_id", "canvas_section_id", "section_id", "status",
                    "canvas_associated_user_id", "associated_user_id", "created_by_sis"],
    "groups": ["canvas_group_id", "group_id", "canvas_account_id", "account_id", "name",
               "status", "created_by_sis"],
    "group_membership": ["canvas_group_id", "group_id", "canvas_user_id", "user_id", "status",
                         "created_by_sis"],
    "xlist": ["canvas_xlist_course_id", "xlist_course_id", "canvas_section_id", "section_id",
              "status", "canvas_nonxlist_course_id", "nonxlist_course_id"],
}
SIS_FORMAT = {
    "users": ["user_id", "login_id", "password", "first_name", "last_name", "full_name",
              "sortable_name", "short_name", "email", "status"],
    "accounts": ["account_id", "parent_account_id", "name", "status"],
    "terms": ["term_id", "name", "status", "start_date", "end_date"],
    "courses": ["course_id", "short_name", "long_name", "account_id", "term_id", "status",
                "start_date", "end_date"],
    "sections": ["section_id", "course_id", "name", "status", "start_date", "end_date"],
    "enrollments": ["course_id", "user_id", "role", "role_id", "section_id", "status",
                    "associated_user_id"],
    "groups": ["group_id", "account_id", "name", "status"],
    "group_membership": ["group_id", "user_id", "status"],
    "xlist": ["xlist_course_id", "section_id", "status"],
}
GRADE_EXPORT = ["student name", "student id", "student sis", "course", "course id",
                "course sis", "section", "section id", "section sis", "term", "term id",
                "term sis", "current score", "final score", "enrollment state",
                "unposted current score", "unposted final score", "current grade",
                "final grade", "unposted current grade", "unposted final grade"]
LAST_USER_ACCESS = ["user id", "user sis id", "user name", "last access at", "last ip"]
OUTCOME_RESULTS = [
    "student name", "student id", "student sis id", "assessment title", "assessment id",
    "assessment type", "submission date", "submission score", "learning outcome name",
    "learning outcome id", "attempt", "outcome score", "assessment question",
    "assessment question id", "course name", "course id", "course sis id", "section name",
    "section id", "section sis id", "assignment url", "learning outcome friendly name",
    "learning outcome points possible", "learning outcome mastery score",
    "learning outcome mastered", "learning outcome rating", "learning outcome rating points",
    "learning outcome group title", "learning outcome group id", "account id",
    "account name", "enrollment state"]
REPORT_TITLES = {"provisioning_csv": "Provisioning", "sis_export_csv": "SIS Export",
                 "grade_export_csv": "Grade Export", "last_user_access_csv": "Last User Access",
                 "outcome_results_csv": "Outcome Results"}
_ENROLLMENT_STATES = {"completed": "concluded"}
_ROLES = {"student": "StudentEnrollment", "teacher": "TeacherEnrollment",
          "ta": "TaEnrollment", "observer": "ObserverEnrollment",
          "designer": "DesignerEnrollment"}


def canvas_id(kind: str, sis_id: str) -> int:
    """A stable Canvas id for a SIS object the sandbox keeps only by its SIS id."""
    digest = hashlib.sha256(f"{kind}:{sis_id}".encode()).digest()
    return 1000 + int.from_bytes(digest[:4], "big") % 9_000_000


def seeded_score(seed: int, user: str, course: str) -> float:
    """A student's score in a course, the same for the same seed, student and course."""
    digest = hashlib.sha256(f"{seed}:{user}:{course}".encode()).digest()
    return 50 + int.from_bytes(digest[:4], "big") % 5001 / 100


def report_file(report: str, parameters: dict[str, str], objects: dict[str, Any], *,
                seed: int) -> tuple[str, bytes]:
    """A finished report's file: (``csv`` or ``zip``, bytes).  Raises KeyError for a report
    the sandbox does not make."""
    found = _Objects(objects)
    found.scope_to(_term(parameters.get("enrollment_term_id", ""), found.terms))
    if report in ("provisioning_csv", "sis_export_csv"):
        return _sis_report(report == "sis_export_csv", parameters, found)
    writers: dict[str, Callable[[_Objects], bytes]] = {
        "grade_export_csv": lambda found: _grades(found, seed),
        "last_user_access_csv": _last_access,
        "outcome_results_csv": lambda _: _csv(OUTCOME_RESULTS, []),
    }
    return "csv", writers[report](found)


def _term(value: str, terms: dict[str, Any]) -> int | None:
    """``ReportHelper#term``: the Canvas id of the term ``parameters[enrollment_term_id]``
    names (a Canvas id or ``sis_term_id:<id>``), None when blank.  Raises LookupError for a
    term the account does not have (Canvas's ``api_find`` fails: the report ends in error)."""
    value = value.strip()
    if not value:
        return None
    if value.lower().startswith("sis_term_id:"):
        term = terms.get(value[len("sis_term_id:"):])
        if term is not None:
            return int(term["canvas_id"])
    elif value.isdigit() and any(t["canvas_id"] == int(value) for t in terms.values()):
        return int(value)
    raise LookupError(f"the account has no term {value!r}")


class _Objects:
    """The kept objects in the shapes the reports need."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.terms: dict[str, Any] = document.get("terms", {})
        self.courses: dict[str, Any] = document.get("courses", {})
        self.sections: dict[str, Any] = document.get("sections", {})
        self.enrollments = [(key.split("|"), value) for key, value
                            in sorted(document.get("enrollments", {}).items())]

    def scope_to(self, term: int | None) -> None:
        """``ReportHelper#add_term_scope``: keep only the courses of ``term`` (None: all),
        and their sections and enrollments; terms and users are not scoped."""
        if term is None:
            return
        self.courses = {sis: c for sis, c in self.courses.items() if c["term_id"] == term}
        self.sections = {sis: s for sis, s in self.sections.items()
                         if s["course_id"] in self.courses}
        self.enrollments = [(parts, e) for parts, e in self.enrollments
                            if self.course_of(e) in self.courses]

    def users(self) -> list[str]:
        return sorted({parts[0] for parts, _ in self.enrollments})

    def term_sis(self, canvas_term: int | None) -> str:
        return next((sis for sis, term in self.terms.items()
                     if term["canvas_id"] == canvas_term), "")

    def course_of(self, enrollment: dict[str, Any]) -> str:
        section = self.sections.get(enrollment.get("section_id") or "")
        return str(section["course_id"] if section else enrollment.get("course_id") or "")


def _sis_report(sis_format: bool, parameters: dict[str, str],
                found: _Objects) -> tuple[str, bytes]:
    wanted = [name for name in SIS_CSVS if parameters.get(name, "").lower() in ("true", "1")]
    headers = SIS_FORMAT if sis_format else PROVISIONING
    files = {name: _csv(headers[name], _sis_rows(name, found, sis_format)) for name in wanted}
    if len(files) == 1:
        return "csv", next(iter(files.values()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(f"{name}.csv", (2026, 1, 1, 0, 0, 0)), data)
    return "zip", buffer.getvalue()


def _sis_rows(name: str, found: _Objects, sis: bool) -> Iterable[list[object]]:
    def row(canvas: list[object], plain: list[object]) -> list[object]:
        return plain if sis else canvas

    if name == "users":
        for user in found.users():
            yield row([canvas_id("user", user), user, user, "", "", "", "", "", "", "active",
                       "true"], [user, user, "", "", "", "", "", "", "", "active"])
    elif name == "terms":
        for sis_id, term in sorted(found.terms.items()):
            yield row([term["canvas_id"], sis_id, "", "active", "", "", "true"],
                      [sis_id, "", "active", "", ""])
    elif name == "courses":
        for sis_id, course in sorted(found.courses.items()):
            term = found.term_sis(course["term_id"])
            yield row([canvas_id("course", sis_id), sis_id, "", "", 1, "", course["term_id"]
                       or "", term, "active", "", "", "true"],
                      [sis_id, "", "", "", term, "active", "", ""])
    elif name == "sections":
        for sis_id, section in sorted(found.sections.items()):
            course = section["course_id"]
            yield row([canvas_id("section", sis_id), sis_id, canvas_id("course", course),
                       course, "", "active", "", "", 1, "", "true"],
                      [sis_id, course, "", "active", "", ""])
    elif name == "enrollments":
        yield from _enrollment_rows(found, sis)


def _enrollment_rows(found: _Objects, sis: bool) -> Iterable[list[object]]:
    for (user, place, role, associated), enrollment in found.enrollments:
        course = found.course_of(enrollment)
        section = "" if place.startswith("default:") else place
        status = _ENROLLMENT_STATES.get(enrollment["status"], enrollment["status"])
        if sis:
            yield [course, user, role, "", section, enrollment["status"], associated]
            continue
        yield [canvas_id("course", course), course, canvas_id("user", user), user, role, "",
               canvas_id("section", section or f"default:{course}"), section, status,
               canvas_id("user", associated) if associated else "", associated, "true"]


def _grades(found: _Objects, seed: int) -> bytes:
    rows: list[list[object]] = []
    for (user, place, role, _), enrollment in found.enrollments:
        if _ROLES.get(role.lower()) != "StudentEnrollment":
            continue
        course = found.course_of(enrollment)
        section = "" if place.startswith("default:") else place
        term_id = found.courses.get(course, {}).get("term_id")
        score = seeded_score(seed, user, course)
        state = _ENROLLMENT_STATES.get(enrollment["status"], enrollment["status"])
        rows.append(["", canvas_id("user", user), user, "", canvas_id("course", course),
                     course, "", canvas_id("section", section or f"default:{course}"),
                     section, "", term_id or "", found.term_sis(term_id), f"{score:.2f}",
                     f"{score:.2f}", state, f"{score:.2f}", f"{score:.2f}", "", "", "", ""])
    return _csv(GRADE_EXPORT, rows)


def _last_access(found: _Objects) -> bytes:
    return _csv(LAST_USER_ACCESS, ([canvas_id("user", user), user, "", "", ""]
                                   for user in found.users()))


def _csv(header: list[str], rows: Iterable[list[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")
