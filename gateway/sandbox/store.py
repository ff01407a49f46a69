"""All mutable sandbox state behind one lock: import records, counters and settings.

HTTP handler threads and the per-account processor threads only ever touch state through
this class.  Records are frozen, so readers get consistent snapshots and serialise them
after the lock is released.  The condition variable wakes an account's processor when an
import is created, aborted or finished, and when the sandbox stops.

Each account also has its SIS objects (`objects(account_id)`), written only by that
account's processor and read by the POST handler to resolve `batch_mode_term_id`.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from gateway.sandbox.errorfile import ErrorsFile, errors_csv, new_verifier
from gateway.sandbox.records import (
    IMPORTING_STATES,
    NOT_COMPLETED_STATES,
    NOT_STARTED_STATES,
    ImportOptions,
    Outcome,
    SisImportRecord,
    UploadedFile,
    WorkflowState,
)
from gateway.sandbox.sisobjects import SisObjects


def utc_now() -> datetime:
    """The current time; Canvas stores timestamps in UTC."""
    return datetime.now(UTC)


class ImportStore:
    """Thread-safe store of every account's imports, oldest first."""

    def __init__(self, account_ids: Iterable[str], processing_seconds: float) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._imports: dict[str, dict[int, SisImportRecord]] = {a: {} for a in account_ids}
        self._next_import_id = 1
        self._next_attachment_id = 1
        self._next_error_report = 1
        term_ids = itertools.count(1)
        self._objects = {a: SisObjects(lambda: next(term_ids)) for a in self._imports}
        self._processing_seconds = processing_seconds

    @property
    def processing_seconds(self) -> float:
        """Seconds an import spends in `importing`; read when each import starts."""
        with self._lock:
            return self._processing_seconds

    @processing_seconds.setter
    def processing_seconds(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("processing_seconds must be a finite number >= 0")
        with self._lock:
            self._processing_seconds = seconds

    def has_account(self, account_id: str) -> bool:
        return account_id in self._imports  # the key set never changes after __init__

    def create(
        self,
        account_id: str,
        options: ImportOptions,
        upload: UploadedFile,
        state: WorkflowState = WorkflowState.CREATED,
    ) -> SisImportRecord:
        """Add an import (normally `created`, queued for processing) and return it.

        `initializing` is used for the records Canvas leaves behind when an option error is
        raised after the batch row was saved; the processor never picks those up.
        Raises KeyError for an unknown account.
        """
        now = utc_now()
        with self._changed:
            imports = self._imports[account_id]
            record = SisImportRecord(
                id=self._next_import_id,
                account_id=account_id,
                attachment_id=self._next_attachment_id,
                created_at=now,
                updated_at=now,
                workflow_state=state,
                options=options,
                upload=upload,
            )
            self._next_import_id += 1
            self._next_attachment_id += 1
            imports[record.id] = record
            self._changed.notify_all()
        return record

    def get(self, account_id: str, import_id: int) -> SisImportRecord | None:
        """The import with this id if it belongs to this account."""
        with self._lock:
            return self._imports.get(account_id, {}).get(import_id)

    def all(self, account_id: str) -> list[SisImportRecord]:
        """Every import of the account, oldest first.  Raises KeyError for an unknown one."""
        with self._lock:
            return list(self._imports[account_id].values())

    def claim_next(self, account_id: str, stop: threading.Event) -> SisImportRecord | None:
        """Block until the account's oldest `created` import can start, mark it `importing`
        and return it; return None once `stop` is set.

        Nothing is claimed while another import of the account is importing, which keeps
        Canvas's one-at-a-time, oldest-first order per root account.
        """
        with self._changed:
            while not stop.is_set():
                record = self._next_startable(account_id)
                if record is not None:
                    now = utc_now()
                    started = replace(
                        record,
                        workflow_state=WorkflowState.IMPORTING,
                        started_at=now,
                        updated_at=now,
                    )
                    self._imports[account_id][record.id] = started
                    return started
                self._changed.wait()
        return None

    def _next_startable(self, account_id: str) -> SisImportRecord | None:
        records = self._imports[account_id].values()
        if any(record.workflow_state in IMPORTING_STATES for record in records):
            return None
        # Insertion order is creation order, so the first `created` one is the oldest.
        return next((r for r in records if r.workflow_state is WorkflowState.CREATED), None)

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

    def begin_cleanup(self, account_id: str, import_id: int) -> bool:
        """Move an `importing` import to `cleanup_batch` (progress restarts at 0); False
        when it is no longer importing (aborted)."""
        with self._changed:
            record = self._imports[account_id][import_id]
            if record.workflow_state is not WorkflowState.IMPORTING:
                return False
            self._imports[account_id][import_id] = replace(
                record, workflow_state=WorkflowState.CLEANUP_BATCH, progress=0, updated_at=utc_now()
            )
            return True

    def abort(self, account_id: str, import_id: int) -> SisImportRecord | None:
        """Canvas's `abort_batch`: an import in initializing, created, importing or
        cleanup_batch becomes `aborted` (progress untouched); None for any other."""
        with self._changed:
            record = self._imports[account_id].get(import_id)
            if record is None or record.workflow_state not in NOT_COMPLETED_STATES:
                return None
            aborted = replace(record, workflow_state=WorkflowState.ABORTED, updated_at=utc_now())
            self._imports[account_id][import_id] = aborted
            self._changed.notify_all()
            return aborted

    def abort_all_pending(self, account_id: str) -> None:
        """Canvas's `abort_all_pending_for_account`: every initializing or created import
        becomes `aborted` with progress 100; running ones are untouched."""
        with self._changed:
            imports = self._imports[account_id]
            for import_id, record in imports.items():
                if record.workflow_state in NOT_STARTED_STATES:
                    imports[import_id] = replace(
                        record, workflow_state=WorkflowState.ABORTED, progress=100
                    )
            self._changed.notify_all()

    def finish(self, account_id: str, import_id: int, outcome: Outcome) -> SisImportRecord:
        """Record the outcome: terminal state, progress, ended_at and the error file when
        there are problems; wakes the processor.  An import aborted meanwhile stays as it
        is: Canvas's `finish` never overwrites `aborted`."""
        now = utc_now()
        with self._changed:
            record = self._imports[account_id][import_id]
            if record.workflow_state is WorkflowState.ABORTED:
                return record
            finished = replace(
                record,
                workflow_state=outcome.final_state,
                progress=outcome.final_progress,
                outcome=outcome,
                ended_at=now if outcome.records_end else None,
                updated_at=now,
                errors_file=self._errors_file(import_id, outcome, now),
            )
            self._imports[account_id][import_id] = finished
            self._changed.notify_all()
        return finished

    def _errors_file(self, import_id: int, outcome: Outcome, now: datetime) -> ErrorsFile | None:
        """Canvas's `write_errors_to_file`, written when the import has any problem; the
        caller holds the lock."""
        if not outcome.problems:
            return None
        attachment_id = self._next_attachment_id
        self._next_attachment_id += 1
        content = errors_csv(import_id, outcome.problems)
        return ErrorsFile(attachment_id, import_id, new_verifier(), now, content)

    def errors_file(self, attachment_id: int) -> tuple[str, ErrorsFile] | None:
        """(account id, file) of the error file with this attachment id, if any."""
        with self._lock:
            for account_id, imports in self._imports.items():
                for record in imports.values():
                    if record.errors_file and record.errors_file.attachment_id == attachment_id:
                        return account_id, record.errors_file
        return None

    def next_error_report(self) -> int:
        """A new Canvas-style error report number, unique within the sandbox."""
        with self._lock:
            number = self._next_error_report
            self._next_error_report += 1
            return number

    def objects(self, account_id: str) -> SisObjects:
        """The account's SIS objects.  Raises KeyError for an unknown account."""
        return self._objects[account_id]  # the key set never changes after __init__

    def wake_all(self) -> None:
        """Wake every waiting processor (used when stopping)."""
        with self._changed:
            self._changed.notify_all()
