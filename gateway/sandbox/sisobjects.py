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

`apply` and `remove` return the state changes they made, for `data.statistics`
(statistics.py): a new object is `created`, a removed one `deleted`; enrollments also count
`concluded` (completed), `deactivated` (inactive) and `restored` (back to active).  A row
that deletes an object the sandbox does not hold counts nothing, and an object deleted and
then re-created counts as `created` (Canvas: `restored`), since deleted objects are not kept.
`to_json` / `from_json` carry the whole state across a sandbox restart.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from gateway.sandbox.processing import AppliedRow
from gateway.sandbox.rows import Row
from gateway.sandbox.statistics import Changes, change_key
from gateway.sorting.kinds import SisKind

CLEANUP_KINDS = (SisKind.COURSE, SisKind.SECTION, SisKind.ENROLLMENT)
_MODELS = {
    SisKind.TERM: "EnrollmentTerm",
    SisKind.COURSE: "Course",
    SisKind.SECTION: "CourseSection",
    SisKind.ENROLLMENT: "Enrollment",
}
# The statistic an enrollment status change counts under (Canvas's stat_* helpers).
_ENROLLMENT_COUNTS = {"completed": "concluded", "inactive": "deactivated", "deleted": "deleted"}
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

    def apply(self, batch_id: int, rows: Iterable[AppliedRow]) -> Changes:
        """Write the rows one import applied, in importer order; return the changes."""
        appliers: dict[SisKind, Callable[[int, Row], str | None]] = {
            SisKind.TERM: self._term,
            SisKind.COURSE: self._course,
            SisKind.SECTION: self._section,
            SisKind.ENROLLMENT: self._enrollment,
        }
        changes: Changes = Changes()
        with self._lock:
            for applied in rows:
                applier = appliers.get(applied.kind)
                if applier is None:
                    continue
                count = applier(batch_id, applied.row)
                if count is not None:
                    changes[change_key(_MODELS[applied.kind], count)] += 1
        return changes

    def _term(self, batch_id: int, row: Row) -> str | None:
        """Apply a term row; return the statistic it counts under, if any."""
        sis_id = row.get("term_id")
        if sis_id is None or row.get("date_override_enrollment_type") is not None:
            return None  # an override row only edits a term's dates
        if _deleted(row):
            return "deleted" if self._terms.pop(sis_id, None) is not None else None
        known = self._terms.get(sis_id)
        canvas_id = known.canvas_id if known is not None else self._next_term_id()
        self._terms[sis_id] = Term(batch_id, canvas_id)
        return None if known is not None else "created"

    def _course(self, batch_id: int, row: Row) -> str | None:
        sis_id = row.get("course_id")
        if sis_id is None:
            return None
        if _deleted(row):
            return "deleted" if self._courses.pop(sis_id, None) is not None else None
        known = self._courses.get(sis_id)
        term = self._terms.get(row.get("term_id") or "")
        # An unknown or blank term_id keeps the course's term; a new course gets the default.
        term_id = term.canvas_id if term is not None else (known.term_id if known else None)
        self._courses[sis_id] = Course(batch_id, term_id)
        return None if known is not None else "created"

    def _section(self, batch_id: int, row: Row) -> str | None:
        sis_id, course_id = row.get("section_id"), row.get("course_id")
        if sis_id is None or course_id is None:
            return None
        if _deleted(row):
            return "deleted" if self._sections.pop(sis_id, None) is not None else None
        known = self._sections.get(sis_id)
        self._sections[sis_id] = Section(batch_id, course_id)
        return None if known is not None else "created"

    def _enrollment(self, batch_id: int, row: Row) -> str | None:
        section_id, course_id = row.get("section_id"), row.get("course_id")
        user = row.get("user_id") or f"integration:{row.get('user_integration_id')}"
        place = section_id or f"default:{course_id}"
        role = row.get("role") or f"role_id:{row.get('role_id')}"
        key = "|".join((user, place, role, row.get("associated_user_id") or ""))
        if _deleted(row):
            return "deleted" if self._enrollments.pop(key, None) is not None else None
        status = (row.get("status") or "active").lower()
        known = self._enrollments.get(key)
        self._enrollments[key] = Enrollment(batch_id, course_id, section_id, status)
        return _enrollment_change(known.status if known is not None else None, status)

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

    def remove(
        self, kind: SisKind, keys: Iterable[str], drop_status: str = "deleted"
    ) -> Changes:
        """Delete these objects; enrollments take `drop_status` instead when it is not
        `deleted` (batch_mode_enrollment_drop_status completed / inactive).  Returns the
        changes."""
        changes: Changes = Changes()
        with self._lock:
            for key in keys:
                count = self._remove_one(kind, key, drop_status)
                if count is not None:
                    changes[change_key(_MODELS[kind], count)] += 1
        return changes

    def _remove_one(self, kind: SisKind, key: str, drop_status: str) -> str | None:
        if kind is SisKind.COURSE:
            return "deleted" if self._courses.pop(key, None) is not None else None
        if kind is SisKind.SECTION:
            return "deleted" if self._sections.pop(key, None) is not None else None
        known = self._enrollments.get(key)
        if known is None:
            return None
        if drop_status == "deleted":
            del self._enrollments[key]
        else:
            self._enrollments[key] = replace(known, status=drop_status)
        return _ENROLLMENT_COUNTS.get(drop_status)

    def snapshot(self) -> dict[str, list[str]]:
        """SIS ids of the active objects per kind, sorted (for tests and the control API)."""
        with self._lock:
            return {
                "terms": sorted(self._terms),
                "courses": sorted(self._courses),
                "sections": sorted(self._sections),
                "enrollments": sorted(self._enrollments),
            }

    def to_json(self) -> dict[str, Any]:
        """Everything held, as JSON-ready data (for the journal)."""
        with self._lock:
            return {
                "terms": {k: asdict(v) for k, v in self._terms.items()},
                "courses": {k: asdict(v) for k, v in self._courses.items()},
                "sections": {k: asdict(v) for k, v in self._sections.items()},
                "enrollments": {k: asdict(v) for k, v in self._enrollments.items()},
            }

    def load_json(self, document: dict[str, Any]) -> None:
        """Replace everything held with a `to_json` document."""
        with self._lock:
            self._terms = {k: Term(**v) for k, v in document["terms"].items()}
            self._courses = {k: Course(**v) for k, v in document["courses"].items()}
            self._sections = {k: Section(**v) for k, v in document["sections"].items()}
            self._enrollments = {k: Enrollment(**v) for k, v in document["enrollments"].items()}


def _enrollment_change(old: str | None, new: str) -> str | None:
    """The statistic an enrollment moving from `old` (None: new) to `new` counts under."""
    if old == new:
        return None  # no workflow_state change: Canvas writes no roll-back row
    if new == "active":
        return "created" if old is None else "restored"
    return _ENROLLMENT_COUNTS.get(new)
