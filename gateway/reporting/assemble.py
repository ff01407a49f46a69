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
from gateway.reporting.facts import (
    BatchReport,
    CanvasMessage,
    FileFate,
    Outcome,
    ReceivedFile,
)
from gateway.sorting.delivery import REPLACED_BY, ZIP_KIND
from gateway.sorting.identity import ATTEMPT_PREFIX, bare_name, without_prefixes
from gateway.state.records import BatchRecord, DiscardRecord, FindingRecord, UploadRecord
from gateway.state.states import BatchState, NoticeKind, UploadState

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


# What the rest of a batch did when some of its files were rejected ("Nothing to do" would
# be wrong then); outcomes not named here keep their usual next step.
_PARTLY_NEXT_STEPS = {
    Outcome.IMPORTED: "The other files were imported; later batches continue in order.",
}
_FATE_OF_SENT = {
    Outcome.ACCEPTED: FileFate.ACCEPTED,
    Outcome.IMPORTED: FileFate.IMPORTED,
    Outcome.IMPORTED_WITH_MESSAGES: FileFate.IMPORTED_WITH_WARNINGS,
    Outcome.FAILED: FileFate.FAILED,
    Outcome.HELD: FileFate.HELD,
}
NAMES_LISTED = 5
"""File names a next step lists before summing up the rest."""


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
    errors = canvas_messages(canvas.get("processing_errors"))
    warnings = canvas_messages(canvas.get("processing_warnings"))
    named = {message.file for message in errors + warnings if message.file}
    files = _files(uploads, outcome, named)
    return BatchReport(
        institution=batch.institution,
        reference=batch.reference,
        batch_id=batch.number or batch.id,
        outcome=outcome,
        files=files,
        received_at=datetime.fromtimestamp(
            min((u.received_at for u in uploads), default=batch.created_at), tz=UTC),
        canvas_import_id=batch.import_id,
        canvas_state=batch.canvas_state,
        # Zeros left out: of Canvas's 21 counts a batch touches two or three.
        counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()
                if isinstance(v, int | float) and v},
        canvas_errors=errors,
        canvas_warnings=warnings,
        posted_at=_time(batch.posted_at),
        finished_at=_time(batch.finished_at),
        reason=reason,
        next_step=next_step_for(outcome, files),
        findings=tuple(extras.findings),
        findings_total=extras.findings_total,
        notes=extras.notes + merge_notes(uploads) + _errors_file_note(batch),
        attachments=extras.attachments,
    )


def next_step_for(outcome: Outcome, files: Sequence[ReceivedFile]) -> str:
    """The report's next step: the outcome's, led by what to do about rejected files (fix
    them and upload them again: the batch went on without them)."""
    rejected = [file.name for file in files if file.fate is FileFate.REJECTED]
    if outcome is Outcome.REJECTED:
        names = rejected or [file.name for file in files]
        if not names:
            return NEXT_STEPS[outcome]
        return (f"Nothing was sent to Canvas. Fix {_names(names)} (see each file's problem) "
                f"and upload {_them(names)} again.")
    if not rejected or outcome not in _FATE_OF_SENT:
        return NEXT_STEPS[outcome]
    went_on = "goes on" if outcome is Outcome.ACCEPTED else "went on"
    return (f"Fix {_names(rejected)} and upload {_them(rejected)} again: rejected, "
            f"{_them(rejected)} {'was' if len(rejected) == 1 else 'were'} not sent to Canvas "
            f"and the batch {went_on} without {_them(rejected)}. "
            + _PARTLY_NEXT_STEPS.get(outcome, NEXT_STEPS[outcome]))


def merge_notes(uploads: Sequence[UploadRecord]) -> tuple[str, ...]:
    """A note for each kind of which several accepted CSVs went to Canvas as one file (the
    sorter's ``merge`` rule: ``replace`` and ``reject`` leave one or none accepted)."""
    return tuple(
        f"{_names([u.filename for u in group])} ({len(group)} {group[0].kind} files) went "
        f"to Canvas merged into one file, named {group[0].filename}: their rows in arrival "
        "order, so a later row for the same id wins."
        for group in _merged_groups(uploads))


def _merged_groups(uploads: Sequence[UploadRecord]) -> list[list[UploadRecord]]:
    """Accepted CSVs of one kind, when there are several (a zip's members never merge)."""
    by_kind: dict[str, list[UploadRecord]] = {}
    for upload in uploads:
        if upload.state is UploadState.ACCEPTED and upload.kind not in (None, ZIP_KIND):
            by_kind.setdefault(str(upload.kind), []).append(upload)
    return [group for group in by_kind.values() if len(group) > 1]


def _files(uploads: Sequence[UploadRecord], outcome: Outcome,
           named: set[str]) -> tuple[ReceivedFile, ...]:
    """The batch's files with their fates; ``named``: the files Canvas's messages name."""
    accepted = [u for u in uploads if u.state is not UploadState.REJECTED]
    warned = {u.filename for u in accepted if u.filename in named or len(accepted) == 1}
    for group in _merged_groups(uploads):  # Canvas names a merged file by its first name
        if group[0].filename in warned:
            warned.update(u.filename for u in group)
    return tuple(_received(upload, _fate(upload, outcome, warned)) for upload in uploads)


def _fate(upload: UploadRecord, outcome: Outcome, warned: set[str]) -> FileFate | None:
    """What became of one upload: never sent (rejected, replaced), or its batch's fate;
    with warnings only when Canvas named it (or it is the batch's only file)."""
    if upload.state is UploadState.REJECTED:
        return FileFate.REPLACED if REPLACED_BY in (upload.problem or "") \
            else FileFate.REJECTED
    fate = _FATE_OF_SENT.get(outcome)
    if fate is FileFate.IMPORTED_WITH_WARNINGS and upload.filename not in warned:
        return FileFate.IMPORTED
    return fate


def _names(names: Sequence[str]) -> str:
    """``a.csv``, ``a.csv and b.csv``, ``a.csv, b.csv and c.csv``; past NAMES_LISTED the
    rest as a count."""
    listed = list(names[:NAMES_LISTED])
    if len(names) > NAMES_LISTED:
        listed.append(f"{len(names) - NAMES_LISTED} more files")
    return listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} and {listed[-1]}"


def _them(names: Sequence[str]) -> str:
    return "it" if len(names) == 1 else "them"


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


def _received(upload: UploadRecord, fate: FileFate | None) -> ReceivedFile:
    again = (f"Fix it, then upload {upload.filename} again: only then does it go to Canvas."
             if fate is FileFate.REJECTED else None)
    return ReceivedFile(name=upload.filename, size=upload.size, sha256=upload.sha256,
                        kind=upload.kind, rows=upload.rows,
                        problem=own_words(upload.filename, upload.problem), fate=fate,
                        next_step=again)


def own_words(filename: str, problem: str | None) -> str | None:
    """A file's problem as its report lists it, under the file's name: without the name
    the problem starts with (``users.csv, row 3: ...`` becomes ``row 3: ...``), which is
    there for the log and ``gateway show``."""
    if problem is None:
        return None
    for lead in (f"{filename}: ", f"{filename}, "):
        if problem.startswith(lead) and len(problem) > len(lead):
            return problem[len(lead):]
    return problem


def canvas_messages(pairs: Any) -> tuple[CanvasMessage, ...]:
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
