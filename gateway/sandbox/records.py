"""The sandbox's SisImport record and its Canvas JSON form (reference §2.1).

A record is what Canvas has *saved* for a batch: the store replaces a record only at the
points where Canvas saves the SisBatch row, so what the API shows changes exactly when it
does in Canvas (see processor.py for those points).  Records are frozen, so a snapshot
handed to an HTTP thread is serialised without holding the store's lock.

`to_json` is `SisBatch#as_json` plus `Api::V1::SisImport#sis_import_json`: `user` when the
batch has one, `csv_attachments` only when `data.downloadable_attachment_ids` lists any,
`errors_attachment` only once the error file is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gateway.sandbox.errorfile import SisError
from gateway.sandbox.files import StoredFile, file_json

FileName = str | None  # None for batch-level messages (Canvas stores a null file)
Message = tuple[FileName, str]

MESSAGE_CAP = 24  # Canvas keeps 24 pairs in processing_errors / processing_warnings


class WorkflowState(StrEnum):
    """Every SisBatch workflow_state Canvas has (§2.2)."""

    INITIALIZING = "initializing"
    CREATED = "created"
    IMPORTING = "importing"
    CLEANUP_BATCH = "cleanup_batch"
    IMPORTED = "imported"
    IMPORTED_WITH_MESSAGES = "imported_with_messages"
    FAILED = "failed"
    FAILED_WITH_MESSAGES = "failed_with_messages"
    ABORTED = "aborted"
    RESTORING = "restoring"
    RESTORED = "restored"
    PARTIALLY_RESTORED = "partially_restored"


IMPORTING_STATES = frozenset({WorkflowState.IMPORTING, WorkflowState.CLEANUP_BATCH})
NOT_STARTED_STATES = frozenset({WorkflowState.INITIALIZING, WorkflowState.CREATED})
# Canvas's `not_completed` scope: the states `PUT :id/abort` can abort.
NOT_COMPLETED_STATES = NOT_STARTED_STATES | IMPORTING_STATES


@dataclass(frozen=True)
class ImportOptions:
    """The POST options as Canvas stores them (§1.2); None where Canvas leaves them nil."""

    import_type: str = "instructure_csv"
    batch_mode: bool | None = None
    batch_mode_term_id: int | None = None
    multi_term_batch_mode: bool | None = None
    override_sis_stickiness: bool | None = None
    add_sis_stickiness: bool | None = None
    clear_sis_stickiness: bool | None = None
    update_sis_id_if_login_claimed: bool = False
    skip_deletes: bool = False
    diffing_data_set_identifier: str | None = None
    diffing_remaster: bool | None = None
    diffing_drop_status: str | None = None
    diffing_user_remove_status: str | None = None
    batch_mode_enrollment_drop_status: str | None = None
    change_threshold: int | None = None
    diff_row_count_threshold: int | None = None


@dataclass(frozen=True)
class UploadedFile:
    """The file one POST carried: its stored name, media type and exact bytes."""

    filename: str
    content_type: str
    payload: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.payload)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()


class End(StrEnum):
    """How Canvas's processing of a batch ended, which decides its final state and data."""

    FINISHED = "finished"  # the importers ran, then `do_batch_end_work`
    CRASHED = "crashed"  # `fail_with_error!` (an exception while unpacking): finish(false)
    ABORTED = "aborted"  # batch mode aborted (change_threshold, multi-term without terms)
    RESCUED = "rescued"  # `process_without_send_later` rescued an exception: failed
    JOB_FAILED = "job_failed"  # the job died (NotImplementedError): finish(false) on reload


@dataclass(frozen=True)
class Outcome:
    """What processing an upload produced (§2.1 `data` keys and the SisBatchErrors).

    `problems` holds failures and warnings in the order Canvas records them; `changes` the
    state changes for `data.statistics`; `error_message` the exception text of a RESCUED
    end (Canvas's `data.error_message`).
    """

    supplied_batches: tuple[str, ...]
    completed_importers: tuple[str, ...]
    counts: dict[str, int]
    problems: tuple[SisError, ...] = ()
    running_immediately: bool = True
    error_message: str | None = None
    end: End = End.FINISHED
    changes: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Message, ...]:
        """(file, message) of the failure-class problems: the import ends failed."""
        return tuple((p.file, p.message) for p in self.problems if p.failure)

    @property
    def warnings(self) -> tuple[Message, ...]:
        """(file, message) of the warnings."""
        return tuple((p.file, p.message) for p in self.problems if not p.failure)

    @property
    def final_state(self) -> WorkflowState:
        """Canvas's `finalize_workflow_state` (§2.3) for each way of ending."""
        if self.end is End.ABORTED:
            return WorkflowState.ABORTED
        if self.end is End.RESCUED:
            return WorkflowState.FAILED
        finished = self.end is End.FINISHED and not self.errors
        if not finished:
            return WorkflowState.FAILED_WITH_MESSAGES if self.problems else WorkflowState.FAILED
        if self.warnings:
            return WorkflowState.IMPORTED_WITH_MESSAGES
        return WorkflowState.IMPORTED

    @property
    def final_progress(self) -> int | None:
        """The progress Canvas ends with; None leaves it as it was (a RESCUED end).

        100 when the import finished (a batch-mode abort finished its importers); a failed
        inline import keeps 0, a failed parallel one ends at 100 because every chunk
        completed and reported its progress; CRASHED and JOB_FAILED never set it.
        """
        if self.end is End.ABORTED:
            return 100
        if self.end is End.RESCUED:
            return None
        if self.end is not End.FINISHED:
            return 0
        if not self.errors or not self.running_immediately:
            return 100
        return 0

    @property
    def records_end(self) -> bool:
        """Whether `ended_at` is set: Canvas's exception rescue saves without it."""
        return self.end is not End.RESCUED

    def with_problem(self, problem: SisError) -> Outcome:
        """This outcome with one more problem and the counts Canvas recomputes for it."""
        problems = (*self.problems, problem)
        counts = dict(self.counts)
        counts["error_count"] = sum(1 for p in problems if p.failure)
        counts["warning_count"] = len(problems) - counts["error_count"]
        return replace(self, problems=problems, counts=counts)


@dataclass(frozen=True)
class BatchData:
    """The SisBatch `data` hash as Canvas saved it, beyond `import_type`; None = absent.

    Fields are in the order Canvas inserts the keys (prepare, process, do_batch_end_work,
    or the rescue's error_message / stack_trace).
    """

    downloadable_attachment_ids: tuple[int, ...] | None = None
    supplied_batches: tuple[str, ...] | None = None
    counts: dict[str, int] | None = None
    running_immediately: bool | None = None
    completed_importers: tuple[str, ...] | None = None
    statistics: dict[str, Any] | None = None
    error_message: str | None = None
    stack_trace: str | None = None

    def to_json(self, import_type: str) -> dict[str, Any]:
        """`data` as the API shows it."""
        data: dict[str, Any] = {"import_type": import_type}
        for name, value in self.__dict__.items():
            if value is not None:
                data[name] = list(value) if isinstance(value, tuple) else value
        return data


@dataclass(frozen=True)
class SisImportRecord:
    """One SIS import as Canvas last saved it.

    `attachment_id` is the uploaded file's attachment (never shown); `files` every other
    attachment the batch owns (extracted CSVs, filtered copies), of which those listed in
    `data.downloadable_attachment_ids` are its csv_attachments.  `errors_due_at` is when the
    delayed `write_errors_to_file` job runs; `errors_file` is set once it did.
    """

    id: int
    account_id: str
    attachment_id: int
    created_at: datetime
    updated_at: datetime
    workflow_state: WorkflowState
    options: ImportOptions
    upload: UploadedFile
    user_id: int | None = None  # the creator (Canvas: the API caller), shown as `user`
    started_at: datetime | None = None
    ended_at: datetime | None = None
    progress: int = 0
    data: BatchData = BatchData()
    files: tuple[StoredFile, ...] = ()
    outcome: Outcome | None = None
    errors_due_at: datetime | None = None
    errors_file: StoredFile | None = None

    @property
    def csv_attachments(self) -> tuple[StoredFile, ...]:
        """The listed attachments, in id order (Canvas's `downloadable_attachments`)."""
        listed = set(self.data.downloadable_attachment_ids or ())
        return tuple(sorted((f for f in self.files if f.id in listed), key=lambda f: f.id))


def iso8601(moment: datetime | None) -> str | None:
    """Canvas's timestamp form: UTC, whole seconds, `Z` suffix."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def capped(messages: tuple[Message, ...], noun: str) -> list[list[str | None]]:
    """The first 24 pairs plus Canvas's summary pair when there are more (§2.1)."""
    pairs: list[list[str | None]] = [[file, message] for file, message in messages[:MESSAGE_CAP]]
    extra = len(messages) - MESSAGE_CAP
    if extra > 0:
        pairs.append(
            [
                f"and {extra} more {noun} that were not included",
                f"Download the error file to see all {noun}.",
            ]
        )
    return pairs


def _columns_json(record: SisImportRecord) -> dict[str, Any]:
    """The SisBatch columns after `data`, as `as_json` adds them."""
    options = record.options
    body: dict[str, Any] = {
        "batch_mode": options.batch_mode,
        "batch_mode_term_id": options.batch_mode_term_id,
        "multi_term_batch_mode": options.multi_term_batch_mode,
        "override_sis_stickiness": options.override_sis_stickiness,
        "add_sis_stickiness": options.add_sis_stickiness,
        "clear_sis_stickiness": options.clear_sis_stickiness,
        "update_sis_id_if_login_claimed": options.update_sis_id_if_login_claimed,
        "skip_deletes": options.skip_deletes,
        "diffing_data_set_identifier": options.diffing_data_set_identifier,
        "diffing_remaster": options.diffing_remaster,
        # Read from options, where Canvas never writes it (data gets the id): always null.
        "diffed_against_import_id": None,
        "diffing_drop_status": options.diffing_drop_status,
        "diffing_user_remove_status": options.diffing_user_remove_status,
        "change_threshold": options.change_threshold,
        "diff_row_count_threshold": options.diff_row_count_threshold,
    }
    outcome = record.outcome
    if outcome is not None and outcome.errors:
        body["processing_errors"] = capped(outcome.errors, "errors")
    if outcome is not None and outcome.warnings:
        body["processing_warnings"] = capped(outcome.warnings, "warnings")
    if options.diffing_data_set_identifier is not None:
        # The column defaults to false (NOT NULL) and the sandbox never diffs, so it stays so.
        body["diffing_threshold_exceeded"] = False
    return body


def to_json(
    record: SisImportRecord,
    base_url: str = "",
    *,
    user: dict[str, Any] | None = None,
    errors_verifier: str | None = None,
) -> dict[str, Any]:
    """The SisImport object exactly as the API returns it (§2.1).

    `base_url` (`http://host:port`) prefixes the file URLs; `user` is the creator's user
    JSON (users.py), `errors_verifier` the download token for errors_attachment.url.
    """
    body: dict[str, Any] = {
        "id": record.id,
        "created_at": iso8601(record.created_at),
        "started_at": iso8601(record.started_at),
        "ended_at": iso8601(record.ended_at),
        "updated_at": iso8601(record.updated_at),
        "progress": record.progress,
        "workflow_state": str(record.workflow_state),
        "data": record.data.to_json(record.options.import_type),
    }
    body.update(_columns_json(record))
    if record.errors_file is not None:
        body["errors_attachment"] = file_json(record.errors_file, base_url, errors_verifier)
    if user is not None:
        body["user"] = user
    attachments = record.csv_attachments
    if attachments:
        body["csv_attachments"] = [file_json(f, base_url) for f in attachments]
    return body
