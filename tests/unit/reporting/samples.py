"""Sample report facts for every outcome, shared by the rendering and delivery tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from gateway.reporting.facts import BatchReport, CanvasMessage, FileFate, Outcome, ReceivedFile

RECEIVED = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
POSTED = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
FINISHED = datetime(2024, 5, 1, 10, 2, 10, tzinfo=UTC)

USERS = ReceivedFile(name="users.csv", size=12_345, sha256="a1" * 32, kind="user", rows=120)
ENROLLMENTS = ReceivedFile(name="enrollments.csv", size=1, sha256="b2" * 32,
                           kind="enrollment", rows=300)
UNKNOWN = ReceivedFile(name="people.csv", size=2_048, sha256="c3" * 32, kind=None, rows=None,
                       problem="The header row matches no Canvas SIS file type.\n"
                               "It looks like users.csv but lacks: login_id",
                       fate=FileFate.REJECTED,
                       next_step="Fix it, then upload people.csv again: only then does it "
                                 "go to Canvas.")


_FATES = {Outcome.ACCEPTED: FileFate.ACCEPTED, Outcome.IMPORTED: FileFate.IMPORTED,
          Outcome.IMPORTED_WITH_MESSAGES: FileFate.IMPORTED, Outcome.FAILED: FileFate.FAILED,
          Outcome.HELD: FileFate.HELD}


def _batch(outcome: Outcome) -> BatchReport:
    """A two-file batch that reached Canvas, before outcome-specific details."""
    fate = _FATES.get(outcome)
    return BatchReport(
        institution="demo", reference="batch-000012", batch_id=12, outcome=outcome,
        files=(replace(USERS, fate=fate), replace(ENROLLMENTS, fate=fate)),
        received_at=RECEIVED, canvas_import_id=45,
        canvas_state="imported", posted_at=POSTED, finished_at=FINISHED,
        counts={"users": 120, "enrollments": 300, "courses": 0,
                "error_count": 0, "warning_count": 0},
        next_step="Nothing to do.",
    )


def sample_report(outcome: Outcome) -> BatchReport:
    """Return realistic facts for ``outcome`` (every Outcome has one)."""
    batch = _batch(outcome)
    match outcome:
        case Outcome.IMPORTED:
            return batch
        case Outcome.IMPORTED_WITH_MESSAGES:
            return replace(
                batch, canvas_state="imported_with_messages",
                files=(replace(USERS, fate=FileFate.IMPORTED_WITH_WARNINGS), batch.files[1]),
                counts={**batch.counts, "warning_count": 1},
                canvas_warnings=(CanvasMessage("users.csv", "user u7: invalid email 'x@'"),),
                next_step="Correct the email of user u7 and upload users.csv again.")
        case Outcome.FAILED:
            return replace(
                batch, canvas_state="failed_with_messages",
                counts={"error_count": 2, "warning_count": 0},
                canvas_errors=(CanvasMessage("enrollments.csv", "Improper role \"boss\""),
                               CanvasMessage(None, "Import aborted after errors")),
                reason="Canvas rejected the import.",
                next_step="Fix the errors and upload both files again; later batches wait.")
        case Outcome.HELD:
            return replace(
                batch, canvas_import_id=None, canvas_state=None, counts={},
                finished_at=None,
                reason="Canvas did not answer the upload; the gateway will not risk a "
                       "duplicate import.",
                next_step="An operator checks Canvas and releases or requeues the batch.")
        case Outcome.REJECTED:
            return BatchReport(
                institution="demo", reference="upload-000034", batch_id=None,
                outcome=outcome, files=(UNKNOWN,), received_at=RECEIVED,
                reason="people.csv is not a Canvas SIS file.",
                next_step="Add the login_id column and upload the file again.")
        case Outcome.ACCEPTED:
            return replace(batch, canvas_import_id=None, canvas_state=None, counts={},
                           posted_at=None, finished_at=None,
                           next_step="The batch goes to Canvas next; a second report follows.")
        case Outcome.UNDELIVERED:
            return replace(batch, reason="Mail to registrar@example.edu failed for 5 days: "
                                         "550 mailbox unavailable",
                           next_step="Fix the address or the mail server, then requeue.")
        case Outcome.DUPLICATE:
            return replace(
                batch, reason="Canvas shows more than one import of batch 12: import 4410 "
                              "carries its files; check them in Canvas",
                next_step="Look at both imports in Canvas and undo the later one.")
        case Outcome.OVERDUE:
            return replace(
                batch, canvas_state="importing", counts={}, finished_at=None,
                reason="Canvas has been importing for 4h 0m.",
                next_step="Check the import in Canvas; abort it there if it is stuck.")
        case Outcome.GATEWAY_ERROR:
            return replace(
                batch, canvas_import_id=None, canvas_state=None, counts={}, posted_at=None,
                finished_at=None,
                reason="upload 41 (users.zip): The gateway could not check this file "
                       "(LZMAError); it was not sent to Canvas",
                next_step="Fix the cause, then have the sender upload the file again.")
    raise AssertionError(f"no sample for {outcome}")


def mixed_report(outcome: Outcome = Outcome.IMPORTED_WITH_MESSAGES) -> BatchReport:
    """A batch that went on without one of its two files (rejected: not sent)."""
    report = sample_report(outcome)
    rejected = replace(UNKNOWN, name="users.csv", kind="user",
                       next_step="Fix it, then upload users.csv again: only then does it go "
                                 "to Canvas.")
    return replace(report, files=(rejected, report.files[1]))
