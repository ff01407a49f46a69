"""All mutable sandbox state behind one lock: import records, counters and settings.

HTTP handler threads and the per-account processor threads only ever touch state through
this class.  Records are frozen, so readers get consistent snapshots and serialise them
after the lock is released.  The condition variable wakes an account's processor when an
import is created or when the sandbox stops.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from gateway.sandbox.records import (
    IMPORTING_STATES,
    ImportOptions,
    Outcome,
    SisImportRecord,
    UploadedFile,
    WorkflowState,
)


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
        self._terms: dict[tuple[str, str], int] = {}
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

    def finish(self, account_id: str, import_id: int, outcome: Outcome) -> SisImportRecord:
        """Record the outcome: terminal state, progress, ended_at; wakes the processor."""
        now = utc_now()
        with self._changed:
            record = self._imports[account_id][import_id]
            finished = replace(
                record,
                workflow_state=outcome.final_state,
                progress=outcome.final_progress,
                outcome=outcome,
                ended_at=now,
                updated_at=now,
            )
            self._imports[account_id][import_id] = finished
            self._changed.notify_all()
        return finished

    def next_error_report(self) -> int:
        """A new Canvas-style error report number, unique within the sandbox."""
        with self._lock:
            number = self._next_error_report
            self._next_error_report += 1
            return number

    def term_id(self, account_id: str, reference: str) -> int:
        """The Canvas id for a `batch_mode_term_id` value.

        A plain number is taken as the Canvas id; any other form (`sis_term_id:2026FA`)
        gets a stable id of its own so the same reference always shows the same number.
        """
        text = reference.strip()
        if re.fullmatch(r"\d+", text):
            return int(text)
        with self._lock:
            key = (account_id, text)
            if key not in self._terms:
                self._terms[key] = 1_000_000 + len(self._terms) + 1
            return self._terms[key]

    def wake_all(self) -> None:
        """Wake every waiting processor (used when stopping)."""
        with self._changed:
            self._changed.notify_all()
