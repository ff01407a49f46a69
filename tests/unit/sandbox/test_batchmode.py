"""Batch mode's cleanup decisions (§5), on a registry built by hand."""

from __future__ import annotations

import itertools

from gateway.sandbox.batchmode import NO_TERMS, Cleanup, apply_cleanup, plan_cleanup
from gateway.sandbox.errorfile import SisError
from gateway.sandbox.processing import AppliedRow
from gateway.sandbox.records import End, ImportOptions, Outcome, WorkflowState
from gateway.sandbox.sisobjects import SisObjects
from gateway.sorting.kinds import SisKind

BATCH = ImportOptions(batch_mode=True, batch_mode_term_id=10)


def registry() -> SisObjects:
    """Term FA (id 10) with courses C1, C2 and enrollments of U1, U2 in C1, from import 1."""
    ids = itertools.count(10)
    objects = SisObjects(lambda: next(ids))
    rows = [
        AppliedRow(SisKind.TERM, {"term_id": "FA", "status": "active"}),
        AppliedRow(SisKind.COURSE, {"course_id": "C1", "term_id": "FA", "status": "active"}),
        AppliedRow(SisKind.COURSE, {"course_id": "C2", "term_id": "FA", "status": "active"}),
        *(
            AppliedRow(
                SisKind.ENROLLMENT,
                {"course_id": "C1", "user_id": user, "role": "student", "status": "active"},
            )
            for user in ("U1", "U2")
        ),
    ]
    objects.apply(1, rows)
    return objects


def outcome(*supplied: str, problems: tuple[SisError, ...] = ()) -> Outcome:
    return Outcome(supplied, supplied, {"error_count": 0, "warning_count": 0}, problems)


def touch(objects: SisObjects, kind: SisKind, **values: str) -> None:
    objects.apply(2, [AppliedRow(kind, {"status": "active", **values})])


def test_no_cleanup_without_batch_mode_a_term_supplied_types_or_with_failures() -> None:
    objects = registry()
    assert plan_cleanup(2, ImportOptions(), outcome("course"), objects) is None
    assert plan_cleanup(2, BATCH, outcome("user"), objects) is None
    failed = outcome("course", problems=(SisError("x.csv", "Invalid UTF-8", failure=True),))
    assert plan_cleanup(2, BATCH, failed, objects) is None
    no_term = ImportOptions(batch_mode=True, multi_term_batch_mode=False)
    assert plan_cleanup(2, no_term, outcome("course"), objects) is None


def test_untouched_objects_of_supplied_types_are_deleted() -> None:
    objects = registry()
    touch(objects, SisKind.COURSE, course_id="C1", term_id="FA")
    cleanup = plan_cleanup(2, BATCH, outcome("course"), objects)
    assert cleanup is not None
    assert cleanup.enters_cleanup
    final = apply_cleanup(cleanup, BATCH, outcome("course"), objects)
    assert final.counts["batch_courses_deleted"] == 1
    assert final.final_state is WorkflowState.IMPORTED
    assert final.changes == {"Course.deleted": 1}  # for data.statistics
    assert objects.snapshot()["courses"] == ["C1"]


def test_drop_status_changes_count_as_concluded_or_deactivated() -> None:
    for status, count in (("completed", "concluded"), ("inactive", "deactivated")):
        objects = registry()
        options = ImportOptions(
            batch_mode=True, batch_mode_term_id=10, batch_mode_enrollment_drop_status=status
        )
        cleanup = plan_cleanup(2, options, outcome("enrollment"), objects)
        assert cleanup is not None
        final = apply_cleanup(cleanup, options, outcome("enrollment"), objects)
        assert final.changes == {f"Enrollment.{count}": 2}
        assert final.counts["batch_enrollments_deleted"] == 2


def test_deletions_run_enrollments_sections_courses() -> None:
    objects = registry()
    cleanup = plan_cleanup(2, BATCH, outcome("course", "enrollment"), objects)
    assert cleanup is not None
    assert [d.kind for d in cleanup.deletions] == [SisKind.ENROLLMENT, SisKind.COURSE]
    assert [d.count_key for d in cleanup.deletions] == [
        "batch_enrollments_deleted",
        "batch_courses_deleted",
    ]


def test_threshold_aborts_above_but_not_at_the_limit() -> None:
    objects = registry()
    touch(objects, SisKind.ENROLLMENT, course_id="C1", user_id="U1", role="student")
    strict = ImportOptions(batch_mode=True, batch_mode_term_id=10, change_threshold=49)
    cleanup = plan_cleanup(2, strict, outcome("enrollment"), objects)
    message = "1 enrollments would be deleted and exceeds the set threshold of 49%"
    assert cleanup == Cleanup(enters_cleanup=True, abort_message=message)
    final = apply_cleanup(cleanup, strict, outcome("enrollment"), objects)
    assert final.end is End.ABORTED
    assert final.final_state is WorkflowState.ABORTED
    assert final.final_progress == 100
    assert final.warnings == ((None, message),)
    assert final.counts["warning_count"] == 1
    at_limit = ImportOptions(batch_mode=True, batch_mode_term_id=10, change_threshold=50)
    cleanup = plan_cleanup(2, at_limit, outcome("enrollment"), objects)
    assert cleanup is not None
    assert cleanup.abort_message is None


def test_courses_are_checked_before_enrollments() -> None:
    objects = registry()
    options = ImportOptions(batch_mode=True, batch_mode_term_id=10, change_threshold=10)
    cleanup = plan_cleanup(2, options, outcome("course", "enrollment"), objects)
    assert cleanup is not None
    assert cleanup.abort_message is not None
    assert cleanup.abort_message.startswith("2 courses would be deleted")


def test_multi_term_needs_terms_from_the_import() -> None:
    objects = registry()
    multi = ImportOptions(batch_mode=True, multi_term_batch_mode=True, change_threshold=100)
    assert plan_cleanup(2, multi, outcome("course"), objects) == Cleanup(
        enters_cleanup=False, abort_message=NO_TERMS
    )
    touch(objects, SisKind.TERM, term_id="FA", name="Fall")
    cleanup = plan_cleanup(2, multi, outcome("term", "course"), objects)
    assert cleanup is not None
    assert cleanup.deletions[0].keys == ("C1", "C2")


def test_deleted_last_completed_drop_status_kills_the_job_like_canvas() -> None:
    objects = registry()
    options = ImportOptions(
        batch_mode=True,
        batch_mode_term_id=10,
        batch_mode_enrollment_drop_status="deleted_last_completed",
    )
    cleanup = plan_cleanup(2, options, outcome("enrollment"), objects)
    assert cleanup == Cleanup(enters_cleanup=True, crash="NotImplementedError")
    final = apply_cleanup(cleanup, options, outcome("enrollment"), objects)
    # NotImplementedError escapes every rescue: the job's failure hook finishes the batch.
    assert final.end is End.JOB_FAILED
    assert final.final_state is WorkflowState.FAILED
    assert final.final_progress == 0
    assert final.error_message is None
    assert len(objects.snapshot()["enrollments"]) == 2
