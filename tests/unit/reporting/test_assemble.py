"""Assembling a report from records: every file's fate, the next step, merges, counts."""

from __future__ import annotations

from typing import Any

from gateway.reporting.assemble import report_for
from gateway.reporting.facts import FileFate, Outcome
from gateway.state.records import BatchRecord, UploadRecord
from gateway.state.states import BatchState, UploadState


def _upload(number: int, name: str, kind: str | None, *, rejected: str | None = None
            ) -> UploadRecord:
    return UploadRecord(id=number, institution="alpha", filename=name, size=10,
                        sha256="0" * 64,
                        state=UploadState.REJECTED if rejected else UploadState.ACCEPTED,
                        kind=kind, rows=1, problem=rejected, batch_id=1,
                        received_at=1_700_000_000.0 + number)


def _batch(state: BatchState, canvas: dict[str, Any] | None = None) -> BatchRecord:
    return BatchRecord(id=7, institution="alpha", state=state, created_at=1_700_000_000.0,
                       next_attempt_at=0.0, attempts=1, recoveries=0, submitted_at=None,
                       import_id=5 if canvas else None, posted_at=None, finished_at=None,
                       canvas_state=str(canvas["workflow_state"]) if canvas else None,
                       canvas_json=canvas,
                       reason=None, number=1)


MALFORMED = _upload(1, "users.csv", None,
                    rejected="users.csv, row 3: Malformed CSV (fix: Illegal quoting (line 3 "
                             "of the file): check for an unbalanced quote)")
COURSES = _upload(2, "courses.csv", "course")
WARNED = {"workflow_state": "imported_with_messages",
          "data": {"counts": {"users": 0, "courses": 2, "error_count": 0, "warning_count": 1}},
          "processing_warnings": [["b000007-a1-courses.csv", "Improper status"]]}


def test_a_mixed_result_names_each_fate_and_says_to_upload_the_rejected_file_again() -> None:
    report = report_for(_batch(BatchState.IMPORTED_WITH_MESSAGES, WARNED),
                        [MALFORMED, COURSES], Outcome.IMPORTED_WITH_MESSAGES, None)

    assert [file.fate for file in report.files] == [FileFate.REJECTED,
                                                    FileFate.IMPORTED_WITH_WARNINGS]
    assert report.headline == "Partly imported: 1 of 2 files rejected"
    assert report.next_step.startswith(
        "Fix users.csv and upload it again: rejected, it was not sent to Canvas and the "
        "batch went on without it. The import ran.")
    assert report.files[0].next_step == ("Fix it, then upload users.csv again: only then "
                                         "does it go to Canvas.")
    assert report.files[0].problem == ("row 3: Malformed CSV (fix: Illegal quoting (line 3 "
                                       "of the file): check for an unbalanced quote)")
    assert report.counts == {"courses": 2, "warning_count": 1}  # zeros left out


def test_a_mixed_receipt_says_the_batch_goes_on_without_the_rejected_file() -> None:
    report = report_for(_batch(BatchState.READY), [MALFORMED, COURSES], Outcome.ACCEPTED,
                        None)

    assert [file.fate for file in report.files] == [FileFate.REJECTED, FileFate.ACCEPTED]
    assert report.headline == "Partly accepted: 1 of 2 files rejected"
    assert "the batch goes on without it. The batch goes to Canvas" in report.next_step


def test_a_clean_import_has_nothing_to_do() -> None:
    imported = {"workflow_state": "imported", "data": {"counts": {"courses": 2}}}

    report = report_for(_batch(BatchState.IMPORTED, imported), [COURSES], Outcome.IMPORTED,
                        None)

    assert report.headline == "Imported"
    assert [file.fate for file in report.files] == [FileFate.IMPORTED]
    assert report.next_step.startswith("Nothing to do.")


def test_a_wholly_rejected_delivery_names_every_file_to_upload_again() -> None:
    people = _upload(3, "people.csv", None, rejected="people.csv: Couldn't find headers")

    report = report_for(_batch(BatchState.REJECTED), [MALFORMED, people], Outcome.REJECTED,
                        "no file in this delivery can be imported")

    assert report.headline == "Rejected"
    assert report.next_step == ("Nothing was sent to Canvas. Fix users.csv and people.csv "
                                "(see each file's problem) and upload them again.")
    assert report.files[1].problem == "Couldn't find headers"


def test_a_merge_is_stated_and_a_replaced_file_is_not_to_be_uploaded_again() -> None:
    users = [_upload(n, f"users-{n}.csv", "user") for n in (1, 2, 3)]
    replaced = _upload(4, "courses-old.csv", "course",
                       rejected="courses-old.csv: replaced by the later courses.csv (two "
                                "course files in one delivery; this institution keeps the "
                                "last)")

    report = report_for(_batch(BatchState.READY), [*users, replaced, COURSES],
                        Outcome.ACCEPTED, None)

    assert report.notes == (
        "users-1.csv, users-2.csv and users-3.csv (3 user files) went to Canvas merged into "
        "one file, named users-1.csv: their rows in arrival order, so a later row for the "
        "same id wins.",)
    assert report.files[3].fate is FileFate.REPLACED
    assert report.files[3].next_step is None
    assert report.headline == "Accepted"  # nothing to fix: the replaced file is not a fault
