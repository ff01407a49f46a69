"""The sandbox's SisImport record and its Canvas JSON form (reference §2.1).

Records are frozen: the store replaces a record to change it, so a snapshot handed to an
HTTP thread can be serialised without holding the store's lock.  `to_json` takes the base
URL the client addressed so that `errors_attachment.url` points back at the sandbox.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gateway.sandbox.errorfile import ERRORS_CSV_TYPE, ErrorsFile, SisError

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


@dataclass(frozen=True)
class Outcome:
    """What processing an upload produced (§2.1 `data` keys and the SisBatchErrors).

    `problems` holds failures and warnings in the order Canvas records them.
    `error_message` is set for an exception-driven `failed` import (Canvas's
    `data.error_message`); `aborted` for one that batch mode aborted (change_threshold,
    multi-term without terms).
    """

    supplied_batches: tuple[str, ...]
    completed_importers: tuple[str, ...]
    counts: dict[str, int]
    problems: tuple[SisError, ...] = ()
    running_immediately: bool = True
    error_message: str | None = None
    aborted: bool = False

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
        """Canvas's `finalize_workflow_state`: any failure fails the batch (§2.3)."""
        if self.aborted:
            return WorkflowState.ABORTED
        if self.error_message is not None:
            # `process_without_send_later` rescues the exception and sets `failed`.
            return WorkflowState.FAILED
        if self.errors:
            return WorkflowState.FAILED_WITH_MESSAGES
        if self.warnings:
            return WorkflowState.IMPORTED_WITH_MESSAGES
        return WorkflowState.IMPORTED

    @property
    def final_progress(self) -> int:
        """Canvas sets 100 only when the import finished: a batch-mode abort finished its
        importers, so 100; a failed small (inline) import keeps 0, a failed parallel one
        ends at 100 because every chunk completed; an exception leaves progress as it was."""
        if self.aborted:
            return 100
        if self.error_message is not None:
            return 0
        if not self.errors or not self.running_immediately:
            return 100
        return 0

    @property
    def records_end(self) -> bool:
        """Whether `ended_at` is set: Canvas's exception rescue saves without it."""
        return self.error_message is None

    def with_problem(self, problem: SisError) -> Outcome:
        """This outcome with one more problem and the counts Canvas recomputes for it."""
        problems = (*self.problems, problem)
        counts = dict(self.counts)
        counts["error_count"] = sum(1 for p in problems if p.failure)
        counts["warning_count"] = len(problems) - counts["error_count"]
        return replace(self, problems=problems, counts=counts)


@dataclass(frozen=True)
class SisImportRecord:
    """One SIS import as the sandbox holds it."""

    id: int
    account_id: str
    attachment_id: int
    created_at: datetime
    updated_at: datetime
    workflow_state: WorkflowState
    options: ImportOptions
    upload: UploadedFile
    started_at: datetime | None = None
    ended_at: datetime | None = None
    progress: int = 0
    outcome: Outcome | None = None
    errors_file: ErrorsFile | None = None


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


def _options_json(record: SisImportRecord) -> dict[str, Any]:
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
        "diffed_against_import_id": None,  # the sandbox never diffs
        "diffing_drop_status": options.diffing_drop_status,
        "diffing_user_remove_status": options.diffing_user_remove_status,
        "change_threshold": options.change_threshold,
        "diff_row_count_threshold": options.diff_row_count_threshold,
    }
    if options.diffing_data_set_identifier is not None:
        # Never exceeded: every sandbox import is a full import; unknown until processed.
        body["diffing_threshold_exceeded"] = False if record.outcome is not None else None
    return body


def _data_json(record: SisImportRecord) -> dict[str, Any]:
    data: dict[str, Any] = {"import_type": record.options.import_type}
    outcome = record.outcome
    if outcome is not None:
        data["supplied_batches"] = list(outcome.supplied_batches)
        data["counts"] = dict(outcome.counts)
        data["running_immediately"] = outcome.running_immediately
        data["completed_importers"] = list(outcome.completed_importers)
        if outcome.error_message is not None:
            data["error_message"] = outcome.error_message
            data["stack_trace"] = f"{outcome.error_message}\n(sandbox: no backtrace)"
    return data


def attachment_json(record: SisImportRecord) -> dict[str, Any]:
    """The uploaded file as a (trimmed) Canvas File object."""
    upload = record.upload
    created = iso8601(record.created_at)
    return {
        "id": record.attachment_id,
        "display_name": upload.filename,
        "filename": upload.filename,
        "content-type": upload.content_type,
        "size": upload.size,
        "upload_status": "success",
        "locked": False,
        "hidden": False,
        "created_at": created,
        "updated_at": created,
        "modified_at": created,
    }


def errors_attachment_json(errors_file: ErrorsFile, base_url: str) -> dict[str, Any]:
    """The error CSV as a (trimmed) Canvas File object; `url` downloads it with the
    verifier alone, as Canvas's does."""
    created = iso8601(errors_file.created_at)
    return {
        "id": errors_file.attachment_id,
        "uuid": errors_file.verifier,
        "folder_id": None,
        "display_name": errors_file.filename,
        "filename": errors_file.filename,
        "upload_status": "success",
        "content-type": ERRORS_CSV_TYPE,
        "url": base_url + errors_file.download_path,
        "size": len(errors_file.content),
        "created_at": created,
        "updated_at": created,
        "modified_at": created,
        "unlock_at": None,
        "lock_at": None,
        "locked": False,
        "hidden": False,
        "hidden_for_user": False,
        "thumbnail_url": None,
        "locked_for_user": False,
    }


def to_json(record: SisImportRecord, base_url: str = "") -> dict[str, Any]:
    """The SisImport object exactly as the API returns it (§2.1).

    `base_url` (`http://host:port`) prefixes `errors_attachment.url`; without it the URL
    is a path on the sandbox.
    """
    body: dict[str, Any] = {
        "id": record.id,
        "created_at": iso8601(record.created_at),
        "updated_at": iso8601(record.updated_at),
        "started_at": iso8601(record.started_at),
        "ended_at": iso8601(record.ended_at),
        "progress": record.progress,
        "workflow_state": str(record.workflow_state),
        "data": _data_json(record),
    }
    body.update(_options_json(record))
    outcome = record.outcome
    if outcome is not None and outcome.errors:
        body["processing_errors"] = capped(outcome.errors, "errors")
    if outcome is not None and outcome.warnings:
        body["processing_warnings"] = capped(outcome.warnings, "warnings")
    if record.errors_file is not None:
        body["errors_attachment"] = errors_attachment_json(record.errors_file, base_url)
    body["csv_attachments"] = [attachment_json(record)]
    return body
