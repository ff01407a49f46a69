"""Building a report's facts from the store's records (pure: records in, BatchReport out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.forwarding.following import (
    DUPLICATE_ALERT,
    ERRORS_FILE_NOT_DOWNLOADED,
    NO_ERRORS_FILE,
    OPS_ALERT,
)
from gateway.reporting.facts import BatchReport, CanvasMessage, Outcome, ReceivedFile
from gateway.sorting.identity import ATTEMPT_PREFIX, bare_name, without_prefixes
from gateway.state.records import BatchRecord, DiscardRecord, FindingRecord, UploadRecord
from gateway.state.states import BatchState, NoticeKind

DELIVERY_FAILED = NoticeKind.DELIVERY_FAILED
"""A notice telling ops that another notice could not be delivered."""

_OUTCOMES = {
    BatchState.READY: Outcome.ACCEPTED,
    BatchState.IMPORTED: Outcome.IMPORTED,
    BatchState.IMPORTED_WITH_MESSAGES: Outcome.IMPORTED_WITH_MESSAGES,
    BatchState.FAILED: Outcome.FAILED,
    BatchState.HELD: Outcome.HELD,
    BatchState.REJECTED: Outcome.REJECTED,
}

NEXT_STEPS = {
    Outcome.ACCEPTED: (
        "The batch goes to Canvas when its turn comes; a second report follows when Canvas "
        "has finished."),
    Outcome.UNDELIVERED: (
        "Fix the recipient address or the mail server. The report itself is kept in the "
        "institution's SFTP /reports folder."),
    Outcome.IMPORTED: "Nothing to do. Later batches continue in order.",
    Outcome.IMPORTED_WITH_MESSAGES: (
        "The import ran. Fix the rows named in the warnings in your next export; later "
        "batches continue in order."),
    Outcome.FAILED: (
        "Later batches are held until this is resolved, so updates never run out of order. "
        "Fix the errors and upload again, then ask the gateway operator to release the queue."),
    Outcome.HELD: (
        "This batch and the ones after it wait for the gateway operator, who has been told. "
        "Nothing is lost: every file is kept."),
    Outcome.REJECTED: (
        "Nothing was sent to Canvas. Fix the files named above and upload them again."),
    Outcome.DUPLICATE: (
        "Canvas shows more than one import carrying this batch's files (named above). Look "
        "at each in Canvas (Admin > SIS Import) and, if both were applied, undo the later "
        "one with Canvas's restore_states; `gateway show BATCH` lists what Canvas showed."),
    Outcome.GATEWAY_ERROR: (
        "The gateway failed on the file or batch named above (the reason says how; the log "
        "has the details under this batch's id). What it concerns was set aside and its "
        "sender told; the institution's other files went on. Fix the cause, then have the "
        "sender upload the file again (or `gateway release` a held batch)."),
    Outcome.OVERDUE: (
        "Check the import in Canvas. If it is stuck, abort it there; the gateway then reports "
        "the batch as failed and holds the queue. Later batches wait meanwhile."),
}


def not_received_note(discard: DiscardRecord) -> str:
    """A report's line about a file the intake dropped without receiving it."""
    where = f"{discard.folder}/" if discard.folder else ""
    when = datetime.fromtimestamp(discard.discarded_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Not received: {where}{discard.filename} ({discard.size:,} bytes, {when}): "
            f"{discard.reason}.")


def outcome_of(kind: str, state: BatchState) -> Outcome:
    """What a notice of ``kind`` about a batch in ``state`` reports.  Raises ValueError when
    there is nothing to report (a notice queued for a state that has no report)."""
    if kind == OPS_ALERT:
        return Outcome.OVERDUE
    if kind == DUPLICATE_ALERT:
        return Outcome.DUPLICATE
    if kind == DELIVERY_FAILED:
        return Outcome.UNDELIVERED
    if kind == NoticeKind.GATEWAY_ERROR:
        return Outcome.GATEWAY_ERROR
    outcome = _OUTCOMES.get(state)
    if outcome is None:
        raise ValueError(f"a batch that is {state} has no report")
    return outcome


@dataclass(frozen=True)
class Extras:
    """What a report adds to the batch record: findings, notes and attachment names."""

    findings: Sequence[FindingRecord] = ()
    findings_total: int = 0
    notes: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()


def report_for(batch: BatchRecord, uploads: Sequence[UploadRecord], outcome: Outcome,
               reason: str | None, extras: Extras = Extras()) -> BatchReport:
    """The facts of a batch as one notice reports them (``outcome`` and ``reason`` are the
    notice's, fixed when it was queued; the rest is read from the records now)."""
    canvas: dict[str, Any] = batch.canvas_json or {}
    data = canvas.get("data") or {}
    return BatchReport(
        institution=batch.institution,
        reference=batch.reference,
        batch_id=batch.number or batch.id,
        outcome=outcome,
        files=tuple(_received(upload) for upload in uploads),
        received_at=datetime.fromtimestamp(
            min((u.received_at for u in uploads), default=batch.created_at), tz=UTC),
        canvas_import_id=batch.import_id,
        canvas_state=batch.canvas_state,
        counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()
                if isinstance(v, int | float)},
        canvas_errors=_messages(canvas.get("processing_errors")),
        canvas_warnings=_messages(canvas.get("processing_warnings")),
        posted_at=_time(batch.posted_at),
        finished_at=_time(batch.finished_at),
        reason=reason,
        next_step=NEXT_STEPS[outcome],
        findings=tuple(extras.findings),
        findings_total=extras.findings_total,
        notes=extras.notes + _errors_file_note(batch),
        attachments=extras.attachments,
    )


def _sent_name(name: str) -> str:
    """A member name without the gateway's batch and attempt prefix (Canvas's summary
    pair, ``and N more errors ...``, has no prefix and stays as it is)."""
    return bare_name(name) if ATTEMPT_PREFIX.match(name) else name


def _errors_file_note(batch: BatchRecord) -> tuple[str, ...]:
    """Say so when Canvas reported messages but its errors file is not attached."""
    if batch.errors_csv == NO_ERRORS_FILE:
        why = "Canvas did not provide its errors file in time"
    elif batch.errors_csv == ERRORS_FILE_NOT_DOWNLOADED:
        why = "the gateway could not download Canvas's errors file"
    else:
        return ()
    return (f"Canvas reported errors or warnings, but {why}; the messages above are the "
            "first ones Canvas lists, and all of them are in Canvas under SIS import "
            f"{batch.import_id}.",)


def _received(upload: UploadRecord) -> ReceivedFile:
    return ReceivedFile(name=upload.filename, size=upload.size, sha256=upload.sha256,
                        kind=upload.kind, rows=upload.rows, problem=upload.problem)


def _messages(pairs: Any) -> tuple[CanvasMessage, ...]:
    """Canvas's ``[[file, message], ...]`` lists (the summary pair included) as messages."""
    if not isinstance(pairs, list):
        return ()
    found = []
    for pair in pairs:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            # Canvas names the file as it was in the zip sent (``b000015-a1-users.csv``);
            # the sender knows it by its own name.
            found.append(CanvasMessage(file=None if pair[0] is None else
                                       _sent_name(str(pair[0])),
                                       message=without_prefixes(str(pair[1]))))
    return tuple(found)


def _time(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, tz=UTC)
