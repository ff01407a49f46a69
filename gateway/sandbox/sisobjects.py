"""The SIS objects one root account has, built from the rows its imports applied.

Batch mode needs to know which terms exist (to resolve `batch_mode_term_id`) and which SIS
courses, sections and enrollments each term holds, and which import last touched each of
them (Canvas's `sis_batch_id`).  Only what batch mode needs is kept:

- terms: SIS id -> Canvas id; `sis_term_id:<x>` and the Canvas id both find a term;
- courses: SIS id -> Canvas term id (None = the default term);
- sections: SIS id -> SIS course id (the term is the course's, looked up when needed);
- enrollments: `user|section-or-default-section|role|associated user` -> the course or
  section they are in and their status.

A row with a `deleted` status removes the object: Canvas's batch scopes and term lookup
only see active objects.  Cross-listing is not modelled, so a section always follows the
course its row named.  Thread-safe: one lock guards everything.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from gateway.sandbox.processing import AppliedRow
from gateway.sandbox.rows import Row
from gateway.sorting.kinds import SisKind

CLEANUP_KINDS = (SisKind.COURSE, SisKind.SECTION, SisKind.ENROLLMENT)
_SIS_TERM = re.compile(r"sis_term_id:(?P<sis>.+)", re.IGNORECASE)


@dataclass(frozen=True)
class Touched:
    """The import that last wrote an object (Canvas's `sis_batch_id`)."""

    batch_id: int


@dataclass(frozen=True)
class Term(Touched):
    canvas_id: int


@dataclass(frozen=True)
class Course(Touched):
    term_id: int | None


@dataclass(frozen=True)
class Section(Touched):
    course_id: str


@dataclass(frozen=True)
class Enrollment(Touched):
    course_id: str | None
    section_id: str | None
    status: str


def _deleted(row: Row) -> bool:
    return (row.get("status") or "").lower().startswith("deleted")


class SisObjects:
    """The active SIS terms, courses, sections and enrollments of one root account."""

    def __init__(self, next_term_id: Callable[[], int]) -> None:
        self._lock = threading.Lock()
        self._next_term_id = next_term_id
        self._terms: dict[str, Term] = {}
        self._courses: dict[str, Course] = {}
        self._sections: dict[str, Section] = {}
        self._enrollments: dict[str, Enrollment] = {}

    def find_term(self, reference: str) -> int | None:
        """The Canvas id of the active term `reference` names (`sis_term_id:<x>` or a Canvas
        id, Canvas's `api_find`), or None."""
        text = reference.strip()
        with self._lock:
            match = _SIS_TERM.fullmatch(text)
            if match is not None:
                term = self._terms.get(match["sis"])
                return term.canvas_id if term is not None else None
            if text.isdigit():
                ids = {term.canvas_id for term in self._terms.values()}
                return int(text) if int(text) in ids else None
            return None

    def apply(self, batch_id: int, rows: Iterable[AppliedRow]) -> None:
        """Write the rows one import applied, in importer order."""
        appliers: dict[SisKind, Callable[[int, Row], None]] = {
            SisKind.TERM: self._term,
            SisKind.COURSE: self._course,
            SisKind.SECTION: self._section,
            SisKind.ENROLLMENT: self._enrollment,
        }
        with self._lock:
            for applied in rows:
                applier = appliers.get(applied.kind)
                if applier is not None:
                    applier(batch_id, applied.row)

    def _term(self, batch_id: int, row: Row) -> None:
        sis_id = row.get("term_id")
        if sis_id is None or row.get("date_override_enrollment_type") is not None:
            return  # an override row only edits a term's dates
        if _deleted(row):
            self._terms.pop(sis_id, None)
            return
        known = self._terms.get(sis_id)
        canvas_id = known.canvas_id if known is not None else self._next_term_id()
        self._terms[sis_id] = Term(batch_id, canvas_id)

    def _course(self, batch_id: int, row: Row) -> None:
        sis_id = row.get("course_id")
        if sis_id is None:
            return
        if _deleted(row):
            self._courses.pop(sis_id, None)
            return
        known = self._courses.get(sis_id)
        term = self._terms.get(row.get("term_id") or "")
        # An unknown or blank term_id keeps the course's term; a new course gets the default.
        term_id = term.canvas_id if term is not None else (known.term_id if known else None)
        self._courses[sis_id] = Course(batch_id, term_id)

    def _section(self, batch_id: int, row: Row) -> None:
        sis_id, course_id = row.get("section_id"), row.get("course_id")
        if sis_id is None or course_id is None:
            return
        if _deleted(row):
            self._sections.pop(sis_id, None)
            return
        self._sections[sis_id] = Section(batch_id, course_id)

    def _enrollment(self, batch_id: int, row: Row) -> None:
        section_id, course_id = row.get("section_id"), row.get("course_id")
        user = row.get("user_id") or f"integration:{row.get('user_integration_id')}"
        place = section_id or f"default:{course_id}"
        role = row.get("role") or f"role_id:{row.get('role_id')}"
        key = "|".join((user, place, role, row.get("associated_user_id") or ""))
        if _deleted(row):
            self._enrollments.pop(key, None)
            return
        status = (row.get("status") or "active").lower()
        self._enrollments[key] = Enrollment(batch_id, course_id, section_id, status)

    def terms_touched_by(self, batch_id: int) -> frozenset[int]:
        """Canvas ids of the active terms this import wrote (multi-term batch mode)."""
        with self._lock:
            return frozenset(t.canvas_id for t in self._terms.values() if t.batch_id == batch_id)

    def in_terms(
        self, kind: SisKind, term_ids: frozenset[int], skip_status: str | None = None
    ) -> dict[str, Touched]:
        """Every active object of `kind` whose course is in one of the terms; enrollments
        already in `skip_status` are left out (they need no change)."""
        with self._lock:
            if kind is SisKind.COURSE:
                return {k: c for k, c in self._courses.items() if c.term_id in term_ids}
            if kind is SisKind.SECTION:
                return {
                    k: s
                    for k, s in self._sections.items()
                    if self._term_of(s.course_id) in term_ids
                }
            return {
                k: e
                for k, e in self._enrollments.items()
                if self._term_of(self._course_of(e)) in term_ids and e.status != skip_status
            }

    def _course_of(self, enrollment: Enrollment) -> str | None:
        section = self._sections.get(enrollment.section_id or "")
        return section.course_id if section is not None else enrollment.course_id

    def _term_of(self, course_id: str | None) -> int | None:
        """The course's term; None (in no batch term) for the default term or an unknown
        course, whose sections and enrollments batch mode therefore never touches."""
        course = self._courses.get(course_id or "")
        return course.term_id if course is not None else None

    def remove(self, kind: SisKind, keys: Iterable[str], drop_status: str = "deleted") -> None:
        """Delete these objects; enrollments take `drop_status` instead when it is not
        `deleted` (batch_mode_enrollment_drop_status completed / inactive)."""
        with self._lock:
            for key in keys:
                if kind is SisKind.COURSE:
                    self._courses.pop(key, None)
                elif kind is SisKind.SECTION:
                    self._sections.pop(key, None)
                elif drop_status == "deleted":
                    self._enrollments.pop(key, None)
                elif key in self._enrollments:
                    self._enrollments[key] = replace(self._enrollments[key], status=drop_status)

    def snapshot(self) -> dict[str, list[str]]:
        """SIS ids of the active objects per kind, sorted (for tests and the control API)."""
        with self._lock:
            return {
                "terms": sorted(self._terms),
                "courses": sorted(self._courses),
                "sections": sorted(self._sections),
                "enrollments": sorted(self._enrollments),
            }
