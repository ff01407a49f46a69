"""Canvas's steps on a SIS import, over the saved state (ledger.py), behind one lock.

HTTP handler threads, the per-account processor threads and the delayed-job thread only
touch state through this class.  A record is replaced only where Canvas saves the SisBatch
(see processor.py), so readers see what Canvas's API would show.  The condition variable
wakes the processors and the delayed-job thread when an import is created, aborted or
finished, and on stop.

Each account also has its SIS objects (`objects(account_id)`), written only by that
account's processor and read by the POST handler to resolve `batch_mode_term_id`.

A restarted sandbox (same data dir) finds every import as Canvas would: imports left
`importing` / `cleanup_batch` are handed to their processor again first (`claim_next`),
`created` ones wait their turn, and error files whose delay had not passed are still
written (`next_due_errors_file`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from gateway.sandbox.errorfile import errors_csv
from gateway.sandbox.files import (
    CSV_TYPE,
    ERRORS_CSV_TYPE,
    StoredFile,
    errors_file_name,
    new_uuid,
)
from gateway.sandbox.ledger import Ledger, utc_now
from gateway.sandbox.records import (
    IMPORTING_STATES,
    NOT_COMPLETED_STATES,
    NOT_STARTED_STATES,
    BatchData,
    End,
    ImportOptions,
    Outcome,
    SisImportRecord,
    UploadedFile,
    WorkflowState,
)
from gateway.sandbox.unpack import BatchFile

__all__ = ["ImportStore", "utc_now"]


class ImportStore(Ledger):
    """Thread-safe store of every account's imports, oldest first, with Canvas's steps."""

    def create(
        self,
        account_id: str,
        options: ImportOptions,
        upload: UploadedFile,
        state: WorkflowState = WorkflowState.CREATED,
        user_id: int | None = None,
    ) -> SisImportRecord:
        """Add an import (normally `created`, queued for processing) by `user_id`.

        `initializing` is used for the records Canvas leaves behind when an option error is
        raised after the batch row was saved; the processor never picks those up.
        Raises KeyError for an unknown account.
        """
        now = utc_now()
        with self._changed:
            if account_id not in self._accounts:
                raise KeyError(account_id)
            record = SisImportRecord(
                id=self._counters.take("import"),
                account_id=account_id,
                user_id=user_id,
                attachment_id=self._counters.take("attachment"),
                created_at=now,
                updated_at=now,
                workflow_state=state,
                options=options,
                upload=upload,
            )
            return self._save(record, {record.attachment_id: upload.payload})

    def claim_next(self, account_id: str, stop: threading.Event) -> SisImportRecord | None:
        """Block until the account has an import to run and return it; None once `stop`
        is set.

        First an import a previous run left `importing` / `cleanup_batch` (as it is), else
        the oldest `created` one, marked `importing` — but nothing while another import of
        the account is importing: Canvas's one-at-a-time, oldest-first order per account.
        """
        with self._changed:
            while not stop.is_set():
                resumed = self._resume.pop(account_id, None)
                if resumed is not None:
                    return self._imports[account_id][resumed]
                record, wait = self._next_startable(account_id)
                if record is not None:
                    now = utc_now()
                    return self._save(
                        replace(
                            record,
                            workflow_state=WorkflowState.IMPORTING,
                            started_at=now,
                            updated_at=now,
                        )
                    )
                self._changed.wait(wait)
        return None

    def _next_startable(self, account_id: str) -> tuple[SisImportRecord | None, float | None]:
        """The oldest `created` import if it may start now, else None and how long until it
        may (None: until something changes)."""
        records = sorted(self._imports[account_id].values(), key=lambda r: r.id)
        if any(record.workflow_state in IMPORTING_STATES for record in records):
            return None, None
        oldest = next((r for r in records if r.workflow_state is WorkflowState.CREATED), None)
        if oldest is None:
            return None, None
        waited = (utc_now() - oldest.created_at).total_seconds()
        if waited < self._start_delay:
            return None, self._start_delay - waited
        return oldest, None

    def hold(
        self, account_id: str, import_id: int, seconds: float | None, stop: threading.Event
    ) -> bool:
        """Wait `seconds` (None: without end) while the import stays `importing` or
        `cleanup_batch`; return True when it still is and the sandbox is not stopping.

        An abort or stop() ends the wait at once: that is how a running import "notices"
        the abort at its next step.
        """
        deadline = None if seconds is None else time.monotonic() + seconds
        with self._changed:
            while not stop.is_set():
                record = self._imports[account_id][import_id]
                if record.workflow_state not in IMPORTING_STATES:
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return True
                self._changed.wait(left)
        return False

    def attach_files(
        self, account_id: str, import_id: int, files: Sequence[BatchFile]
    ) -> tuple[StoredFile, ...]:
        """Create the batch's attachments (`create_batch_attachment`), one per file in
        order, and return them; an import that already has them (run again after a
        restart) keeps its own.  A `.csv` upload's own attachment is reused."""
        now = utc_now()
        with self._changed:
            record = self._imports[account_id][import_id]
            if record.files:
                return record.files
            stored = tuple(self._stored(record, file, now) for file in files)
            blobs = {f.id: f.content for f in stored if f.id != record.attachment_id}
            self._save(replace(record, files=stored), blobs)
            return stored

    def _stored(self, record: SisImportRecord, file: BatchFile, now: datetime) -> StoredFile:
        if file.is_upload:
            upload = record.upload
            return StoredFile(
                record.attachment_id,
                upload.filename,
                upload.filename,
                upload.content_type,
                new_uuid(),
                record.created_at,
                upload.payload,
            )
        content_type = CSV_TYPE if file.name.lower().endswith(".csv") else "text/plain"
        attachment_id = self._counters.take("attachment")
        return StoredFile(
            attachment_id, file.name, file.name, content_type, new_uuid(), now, file.content
        )

    def save_data(self, account_id: str, import_id: int, data: BatchData) -> None:
        """Save `data` of an import still running (Canvas's `@batch.save!` once a parallel
        import is prepared)."""
        with self._changed:
            record = self._imports[account_id][import_id]
            if record.workflow_state in IMPORTING_STATES:
                self._save(replace(record, data=data, updated_at=utc_now()))

    def begin_cleanup(self, account_id: str, import_id: int) -> bool:
        """Move a running import to `cleanup_batch` (progress restarts at 0); False when it
        is no longer running (aborted)."""
        with self._changed:
            record = self._imports[account_id][import_id]
            if record.workflow_state not in IMPORTING_STATES:
                return False
            self._save(
                replace(
                    record,
                    workflow_state=WorkflowState.CLEANUP_BATCH,
                    progress=0,
                    updated_at=utc_now(),
                )
            )
            return True

    def abort(self, account_id: str, import_id: int) -> SisImportRecord | None:
        """Canvas's `abort_batch`: an import in initializing, created, importing or
        cleanup_batch becomes `aborted` (progress untouched); None for any other."""
        with self._changed:
            record = self._imports.get(account_id, {}).get(import_id)
            if record is None or record.workflow_state not in NOT_COMPLETED_STATES:
                return None
            if self._resume.get(account_id) == import_id:
                del self._resume[account_id]  # aborted before its processor took it again
            return self._save(
                replace(record, workflow_state=WorkflowState.ABORTED, updated_at=utc_now())
            )

    def abort_all_pending(self, account_id: str) -> None:
        """Canvas's `abort_all_pending_for_account`: every initializing or created import
        becomes `aborted` with progress 100; running ones are untouched."""
        with self._changed:
            for record in list(self._imports[account_id].values()):
                if record.workflow_state in NOT_STARTED_STATES:
                    self._save(replace(record, workflow_state=WorkflowState.ABORTED, progress=100))

    def finish(
        self, account_id: str, import_id: int, outcome: Outcome, data: BatchData
    ) -> SisImportRecord:
        """Save the import's end: terminal state, progress, data, ended_at; schedule the
        error file when there are problems (`delay_if_production.write_errors_to_file`).
        An import aborted meanwhile stays as it is: Canvas's `finish` never overwrites
        `aborted` (the account's SIS objects are saved all the same)."""
        now = utc_now()
        with self._changed:
            record = self._imports[account_id][import_id]
            if record.workflow_state is WorkflowState.ABORTED:
                return self._save(record)
            progress = outcome.final_progress
            writes_errors = bool(outcome.problems) and outcome.end is not End.RESCUED
            finished = replace(
                record,
                workflow_state=outcome.final_state,
                progress=record.progress if progress is None else progress,
                outcome=outcome,
                data=data,
                ended_at=now if outcome.records_end else None,
                updated_at=now,
                errors_due_at=now + timedelta(seconds=self._errors_file_delay)
                if writes_errors
                else None,
            )
            if writes_errors and self._errors_file_delay == 0:
                return self._write_errors(finished, now)
            return self._save(finished)

    def next_due_errors_file(self, stop: threading.Event) -> tuple[str, int] | None:
        """Block until an error file is due; return (account id, import id), or None once
        `stop` is set.  The earliest due file comes first."""
        with self._changed:
            while not stop.is_set():
                if not self._errors_due:
                    self._changed.wait()
                    continue
                key, due = min(self._errors_due.items(), key=lambda item: (item[1], item[0][1]))
                left = (due - utc_now()).total_seconds()
                if left <= 0:
                    return key
                self._changed.wait(left)
        return None

    def write_errors_file(self, account_id: str, import_id: int) -> SisImportRecord:
        """Canvas's `write_errors_to_file` (a delayed job in production): attach the error
        CSV, which bumps `updated_at`."""
        with self._changed:
            record = self._imports[account_id][import_id]
            if record.errors_file is not None or record.outcome is None:
                return record
            return self._write_errors(record, utc_now())

    def _write_errors(self, record: SisImportRecord, now: datetime) -> SisImportRecord:
        problems = record.outcome.problems if record.outcome is not None else ()
        errors_file = StoredFile(
            self._counters.take("attachment"),
            f"sis_errors_attachment_{record.id}.csv",
            errors_file_name(record.id, now),
            ERRORS_CSV_TYPE,
            new_uuid(),
            now,
            errors_csv(record.id, problems),
        )
        written = replace(record, errors_file=errors_file, errors_due_at=None, updated_at=now)
        return self._save(written, {errors_file.id: errors_file.content})
