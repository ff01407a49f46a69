"""The per-account SIS objects batch mode works on."""

from __future__ import annotations

import itertools

from gateway.sandbox.processing import AppliedRow
from gateway.sandbox.sisobjects import SisObjects
from gateway.sorting.kinds import SisKind


def row(kind: SisKind, **values: str | None) -> AppliedRow:
    return AppliedRow(kind, values)


def objects() -> SisObjects:
    ids = itertools.count(10)
    return SisObjects(lambda: next(ids))


def test_terms_are_found_by_sis_id_or_canvas_id() -> None:
    registry = objects()
    registry.apply(1, [row(SisKind.TERM, term_id="FA", status="active")])
    assert registry.find_term("sis_term_id:FA") == 10
    assert registry.find_term(" SIS_TERM_ID:FA ") == 10
    assert registry.find_term("10") == 10
    assert registry.find_term("11") is None
    assert registry.find_term("FA") is None
    registry.apply(2, [row(SisKind.TERM, term_id="FA", status="active")])
    assert registry.find_term("sis_term_id:FA") == 10  # same term, same id
    assert registry.terms_touched_by(2) == frozenset({10})
    assert registry.terms_touched_by(1) == frozenset()
    registry.apply(3, [row(SisKind.TERM, term_id="FA", status="deleted")])
    assert registry.find_term("sis_term_id:FA") is None


def test_date_override_rows_do_not_touch_terms() -> None:
    registry = objects()
    registry.apply(1, [row(SisKind.TERM, term_id="FA", status="active")])
    override = row(
        SisKind.TERM, term_id="FA", status="active", date_override_enrollment_type="TaEnrollment"
    )
    registry.apply(2, [override])
    assert registry.terms_touched_by(2) == frozenset()


def test_courses_sections_and_enrollments_follow_their_term() -> None:
    registry = objects()
    registry.apply(
        1,
        [
            row(SisKind.TERM, term_id="FA", status="active"),
            row(SisKind.COURSE, course_id="C1", term_id="FA", status="active"),
            row(SisKind.COURSE, course_id="C2", term_id="NOPE", status="active"),
            row(SisKind.SECTION, section_id="S1", course_id="C1", status="active"),
            row(SisKind.ENROLLMENT, section_id="S1", user_id="U1", role="student", status="active"),
            row(SisKind.ENROLLMENT, course_id="C1", user_id="U2", role="teacher", status="Active"),
            row(SisKind.ENROLLMENT, course_id="C2", user_id="U3", role="student", status="active"),
        ],
    )
    fall = frozenset({10})
    assert sorted(registry.in_terms(SisKind.COURSE, fall)) == ["C1"]  # C2: default term
    assert sorted(registry.in_terms(SisKind.SECTION, fall)) == ["S1"]
    assert sorted(registry.in_terms(SisKind.ENROLLMENT, fall)) == [
        "U1|S1|student|",
        "U2|default:C1|teacher|",
    ]
    # A later row without term_id keeps the course in its term.
    registry.apply(2, [row(SisKind.COURSE, course_id="C1", status="active")])
    assert registry.in_terms(SisKind.COURSE, fall)["C1"].batch_id == 2


def test_deleted_rows_and_removal() -> None:
    registry = objects()
    registry.apply(
        1,
        [
            row(SisKind.TERM, term_id="FA", status="active"),
            row(SisKind.COURSE, course_id="C1", term_id="FA", status="active"),
            row(SisKind.ENROLLMENT, course_id="C1", user_id="U1", role="student", status="active"),
            row(SisKind.ENROLLMENT, course_id="C1", user_id="U2", role="student", status="active"),
        ],
    )
    registry.apply(
        2, [row(SisKind.ENROLLMENT, course_id="C1", user_id="U1", role="student", status="deleted")]
    )
    fall = frozenset({10})
    assert list(registry.in_terms(SisKind.ENROLLMENT, fall)) == ["U2|default:C1|student|"]
    registry.remove(SisKind.ENROLLMENT, ["U2|default:C1|student|"], "inactive")
    assert registry.in_terms(SisKind.ENROLLMENT, fall, "inactive") == {}
    assert registry.snapshot()["enrollments"] == ["U2|default:C1|student|"]
    registry.remove(SisKind.COURSE, ["C1"])
    assert registry.snapshot() == {
        "terms": ["FA"],
        "courses": [],
        "sections": [],
        "enrollments": ["U2|default:C1|student|"],
    }


def enrol(user: str, status: str) -> AppliedRow:
    return row(SisKind.ENROLLMENT, section_id="S1", user_id=user, role="student", status=status)


def test_state_changes_for_statistics() -> None:
    registry = objects()
    first = registry.apply(
        1,
        [
            row(SisKind.TERM, term_id="FA", status="active"),
            row(SisKind.COURSE, course_id="C1", term_id="FA", status="active"),
            row(SisKind.SECTION, section_id="S1", course_id="C1", status="active"),
            enrol("U1", "active"),
            enrol("U2", "completed"),
            row(SisKind.COURSE, course_id="GONE", status="deleted"),  # never held: no change
        ],
    )
    assert first == {
        "EnrollmentTerm.created": 1,
        "Course.created": 1,
        "CourseSection.created": 1,
        "Enrollment.created": 1,
        "Enrollment.concluded": 1,
    }
    again = registry.apply(
        2,
        [
            row(SisKind.COURSE, course_id="C1", term_id="FA", status="active"),  # unchanged
            enrol("U1", "inactive"),
            enrol("U2", "active"),
            row(SisKind.SECTION, section_id="S1", course_id="C1", status="deleted"),
        ],
    )
    assert again == {
        "Enrollment.deactivated": 1,
        "Enrollment.restored": 1,
        "CourseSection.deleted": 1,
    }
    assert registry.remove(SisKind.COURSE, ["C1", "nope"]) == {"Course.deleted": 1}


def test_json_round_trip_keeps_everything() -> None:
    registry = objects()
    registry.apply(
        1,
        [
            row(SisKind.TERM, term_id="FA", status="active"),
            row(SisKind.COURSE, course_id="C1", term_id="FA", status="active"),
            row(SisKind.ENROLLMENT, course_id="C1", user_id="U1", role="student", status="active"),
        ],
    )
    copy = objects()
    copy.load_json(registry.to_json())
    assert copy.to_json() == registry.to_json()
    assert copy.find_term("sis_term_id:FA") == 10
    assert copy.in_terms(SisKind.ENROLLMENT, frozenset({10})) == registry.in_terms(
        SisKind.ENROLLMENT, frozenset({10})
    )
