"""Where a sandbox with a data dir keeps its state: one SQLite file, `<data dir>/canvas.db`.

Canvas keeps batches, attachments and its job queue in its database, so a restarted Canvas
carries on where it stopped.  The sandbox does the same with three tables:

- `imports`: one JSON document per import record (codec.py), written whenever the store
  replaces the record;
- `blobs`: the bytes of every attachment (uploads, extracted CSVs, error files) by id,
  written once;
- `meta`: JSON values by key: the id counters, the users, each account's SIS objects and
  the download-token secret.

Every `write` is one transaction (SQLite's journal makes it atomic: after a crash the file
holds all of it or none), so a record, the counters that gave it its ids and the objects its
rows changed are never out of step.  `MemoryJournal` (no data dir) keeps nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

DATABASE_NAME = "canvas.db"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS imports (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
)


@dataclass(frozen=True)
class Saved:
    """Everything a journal holds: meta values, import documents (by id) and blobs."""

    meta: dict[str, Any] = field(default_factory=dict)
    imports: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[int, bytes] = field(default_factory=dict)


class Journal(Protocol):
    """Durable storage for the store; `write` is atomic."""

    def load(self) -> Saved:
        """Everything written so far (empty for a new journal)."""
        ...

    def write(
        self,
        *,
        imports: Sequence[dict[str, Any]] = (),
        blobs: Mapping[int, bytes] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert or replace these import documents, blobs and meta values, all or none."""
        ...

    def close(self) -> None:
        """Release the storage; no write may follow."""
        ...


class MemoryJournal:
    """The journal of a sandbox without a data dir: nothing survives the process."""

    def load(self) -> Saved:
        return Saved()

    def write(
        self,
        *,
        imports: Sequence[dict[str, Any]] = (),
        blobs: Mapping[int, bytes] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        return None

    def close(self) -> None:
        return None


class SqliteJournal:
    """The journal in `<data_dir>/canvas.db`; safe to call from many threads."""

    def __init__(self, data_dir: Path) -> None:
        """Open (creating the dir and file when needed).  Raises OSError, sqlite3.Error."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(data_dir / DATABASE_NAME, check_same_thread=False)
        with self._db:
            for statement in _SCHEMA:
                self._db.execute(statement)

    def load(self) -> Saved:
        with self._lock:
            meta = {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}
            rows = self._db.execute("SELECT doc FROM imports ORDER BY id")
            imports = [json.loads(doc) for (doc,) in rows]
            blobs = {i: bytes(d) for i, d in self._db.execute("SELECT id, data FROM blobs")}
        return Saved(meta, imports, blobs)

    def write(
        self,
        *,
        imports: Sequence[dict[str, Any]] = (),
        blobs: Mapping[int, bytes] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        with self._lock, self._db:  # one transaction: committed whole or rolled back
            self._db.executemany(
                "INSERT OR REPLACE INTO imports (id, doc) VALUES (?, ?)",
                [(doc["id"], json.dumps(doc)) for doc in imports],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO blobs (id, data) VALUES (?, ?)",
                list((blobs or {}).items()),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(key, json.dumps(value)) for key, value in (meta or {}).items()],
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_journal(data_dir: Path | None) -> Journal:
    """A SqliteJournal in `data_dir`, or a MemoryJournal without one."""
    return SqliteJournal(data_dir) if data_dir is not None else MemoryJournal()
