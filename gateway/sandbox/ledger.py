"""The sandbox's saved state behind one lock: records, counters, settings, SIS objects.

`Ledger` is the storage half of the store (store.py adds Canvas's steps on top): it holds
every account's import records, the id sequences and the account's SIS objects, and writes
every change through to the journal (journal.py) in one transaction with the counters and
the account's SIS objects, while the lock is held, so ids never restart and the saved
objects always match the saved records.  Records are frozen: a snapshot handed out can be
serialised without the lock.  The condition variable wakes waiting threads on each save.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from gateway.sandbox.codec import record_from_doc, record_to_doc
from gateway.sandbox.files import StoredFile
from gateway.sandbox.journal import Journal, MemoryJournal
from gateway.sandbox.records import IMPORTING_STATES, SisImportRecord
from gateway.sandbox.sisobjects import SisObjects

_COUNTERS = ("import", "attachment", "error_report", "term", "user", "account_report")


def utc_now() -> datetime:
    """The current time; Canvas stores timestamps in UTC."""
    return datetime.now(UTC)


def _check_seconds(name: str, seconds: float) -> None:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite number >= 0")


class _Counters:
    """The id sequences, behind their own lock: SisObjects takes term ids while holding its
    lock, and the store snapshots the counters while holding its own."""

    def __init__(self, saved: dict[str, int]) -> None:
        self._lock = threading.Lock()
        self._next = {name: int(saved.get(name, 1)) for name in _COUNTERS}

    def take(self, name: str) -> int:
        with self._lock:
            value = self._next[name]
            self._next[name] = value + 1
            return value

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._next)


class Ledger:
    """Thread-safe saved state of every account's imports."""

    def __init__(
        self,
        account_ids: Iterable[str],
        processing_seconds: float,
        *,
        errors_file_delay: float = 0.0,
        journal: Journal | None = None,
    ) -> None:
        """Load what `journal` holds (nothing by default).  Raises ValueError for a bad
        time, KeyError / ValueError for a journal that is not the sandbox's.

        Imports a previous run left `importing` / `cleanup_batch` are noted in `_resume`
        (Canvas's job is in its database and runs again)."""
        _check_seconds("processing_seconds", processing_seconds)
        _check_seconds("errors_file_delay", errors_file_delay)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._journal = journal or MemoryJournal()
        saved = self._journal.load()
        self._meta: dict[str, Any] = dict(saved.meta)
        self._counters = _Counters(saved.meta.get("counters", {}))
        self._accounts = frozenset(account_ids)
        self._imports: dict[str, dict[int, SisImportRecord]] = {a: {} for a in self._accounts}
        self._resume: dict[str, int] = {}
        # Indexes kept by `_index`: error files still to write (key → due time), and the
        # import that shows each downloadable file.
        self._errors_due: dict[tuple[str, int], datetime] = {}
        self._shown_files: dict[int, tuple[str, int]] = {}
        for doc in saved.imports:
            self._load(record_from_doc(doc, saved.blobs))
        self._objects = {a: SisObjects(lambda: self._counters.take("term")) for a in self._accounts}
        for account, objects in self._objects.items():
            if f"objects:{account}" in saved.meta:
                objects.load_json(saved.meta[f"objects:{account}"])
        if "secret" not in self._meta:
            self._meta["secret"] = secrets.token_hex(32)
            self._journal.write(meta={"secret": self._meta["secret"]})
        self._processing_seconds = processing_seconds
        self._errors_file_delay = errors_file_delay
        self._start_delay = 0.0

    def _load(self, record: SisImportRecord) -> None:
        if record.account_id not in self._accounts:
            return  # stays in the journal, unserved, while its account is not configured
        self._imports[record.account_id][record.id] = record
        self._index(record)
        if record.workflow_state in IMPORTING_STATES:
            # Canvas's job is in its database and runs again: hand it out first.
            self._resume[record.account_id] = record.id

    @property
    def download_secret(self) -> bytes:
        """The key that signs errors_attachment download tokens (kept across restarts)."""
        return bytes.fromhex(self._meta["secret"])

    @property
    def processing_seconds(self) -> float:
        """Seconds an import spends in `importing`; read when each import starts."""
        with self._lock:
            return self._processing_seconds

    @processing_seconds.setter
    def processing_seconds(self, seconds: float) -> None:
        _check_seconds("processing_seconds", seconds)
        with self._lock:
            self._processing_seconds = seconds

    @property
    def errors_file_delay(self) -> float:
        """Seconds from an import's end to its error file (Canvas's delayed job)."""
        with self._lock:
            return self._errors_file_delay

    @errors_file_delay.setter
    def errors_file_delay(self, seconds: float) -> None:
        _check_seconds("errors_file_delay", seconds)
        with self._changed:
            self._errors_file_delay = seconds

    @property
    def start_delay(self) -> float:
        """Seconds a `created` import waits before its account's job may start it (Canvas's
        `sis_batch_process_start_delay` setting, `SisBatch.queue_job_for_account`)."""
        with self._lock:
            return self._start_delay

    @start_delay.setter
    def start_delay(self, seconds: float) -> None:
        _check_seconds("start_delay", seconds)
        with self._changed:
            self._start_delay = seconds
            self._changed.notify_all()

    def has_account(self, account_id: str) -> bool:
        return account_id in self._accounts

    def meta(self, key: str) -> Any:
        """A saved meta value (users), or None."""
        with self._lock:
            return self._meta.get(key)

    def put_meta(self, key: str, value: Any) -> None:
        """Save a meta value, with the counters."""
        with self._lock:
            self._meta[key] = value
            self._journal.write(meta={key: value, "counters": self._counters.snapshot()})

    def take_id(self, sequence: str) -> int:
        """The next id of a sequence (`user`), never handed out twice."""
        return self._counters.take(sequence)

    def _save(
        self, record: SisImportRecord, blobs: dict[int, bytes] | None = None
    ) -> SisImportRecord:
        """Replace the record and write it through, with the counters and the account's SIS
        objects (its rows may have changed them); the caller holds the lock."""
        self._imports[record.account_id][record.id] = record
        self._index(record)
        self._journal.write(
            imports=[record_to_doc(record)],
            blobs=blobs,
            meta={
                "counters": self._counters.snapshot(),
                f"objects:{record.account_id}": self._objects[record.account_id].to_json(),
            },
        )
        self._changed.notify_all()
        return record

    def _index(self, record: SisImportRecord) -> None:
        key = (record.account_id, record.id)
        if record.errors_due_at is not None and record.errors_file is None:
            self._errors_due[key] = record.errors_due_at
        else:
            self._errors_due.pop(key, None)
        shown = (*record.csv_attachments, *filter(None, [record.errors_file]))
        for file in shown:
            self._shown_files[file.id] = key

    def get(self, account_id: str, import_id: int) -> SisImportRecord | None:
        """The import with this id if it belongs to this account."""
        with self._lock:
            return self._imports.get(account_id, {}).get(import_id)

    def all(self, account_id: str) -> list[SisImportRecord]:
        """Every import of the account, oldest first.  Raises KeyError for an unknown one."""
        with self._lock:
            if account_id not in self._accounts:
                raise KeyError(account_id)
            return sorted(self._imports[account_id].values(), key=lambda r: r.id)

    def find_file(self, attachment_id: int) -> tuple[SisImportRecord, StoredFile] | None:
        """The import and attachment of a downloadable file (a listed CSV or an error
        file) with this id, if any."""
        with self._lock:
            key = self._shown_files.get(attachment_id)
            if key is None:
                return None
            record = self._imports[key[0]][key[1]]
            shown = (*record.csv_attachments, *filter(None, [record.errors_file]))
            return next(((record, f) for f in shown if f.id == attachment_id), None)

    def next_error_report(self) -> int:
        """A new Canvas-style error report number, unique within the sandbox."""
        return self._counters.take("error_report")

    def objects(self, account_id: str) -> SisObjects:
        """The account's SIS objects.  Raises KeyError for an unknown account."""
        return self._objects[account_id]  # the key set never changes after __init__

    def wake_all(self) -> None:
        """Wake every waiting thread (used when stopping)."""
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        """Close the journal; call after every thread stopped."""
        with self._lock:
            self._journal.close()
