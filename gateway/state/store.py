"""The state store: SQLite in WAL mode, the one source of truth for every record's state.

Every change happens inside :meth:`Store.transaction` (``BEGIN IMMEDIATE``), and every state
change is a compare-and-set checked against the transition tables, written together with its
side effects (the transition log row, the notice to send).  A crash therefore leaves each
record in exactly one drawn state, with its side effects present or absent together.

Connections are per thread (SQLite objects must not cross threads); WAL lets the CLI read a
running daemon's store safely.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.state.records import (
    BatchRecord,
    DiscardRecord,
    FindingRecord,
    HookDeliveryRecord,
    InstitutionHold,
    NoticeRecord,
    UploadRecord,
)
from gateway.state.states import (
    BATCH_TRANSITIONS,
    EXPORT_RUN_TRANSITIONS,
    NOTICE_TRANSITIONS,
    UPLOAD_TRANSITIONS,
    BatchState,
    ExportRunState,
    NoticeState,
    TransitionError,
    UploadState,
)

Clock = Callable[[], float]

MIGRATIONS: tuple[str, ...] = ("""
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    institution TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    kind TEXT, rows INTEGER, problem TEXT,
    batch_id INTEGER REFERENCES batches(id),
    received_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_state ON uploads (institution, state, id);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    institution TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    recoveries INTEGER NOT NULL DEFAULT 0,
    submitted_at REAL, import_id INTEGER, posted_at REAL, finished_at REAL,
    canvas_state TEXT, canvas_json TEXT, reason TEXT
);
CREATE INDEX IF NOT EXISTS batches_by_institution ON batches (institution, state, id);
CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    institution TEXT NOT NULL,
    batch_id INTEGER REFERENCES batches(id),
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL, last_error TEXT
);
CREATE INDEX IF NOT EXISTS notices_due ON notices (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL, entity_id INTEGER NOT NULL,
    from_state TEXT, to_state TEXT NOT NULL,
    at REAL NOT NULL, reason TEXT
);
""", """
ALTER TABLE batches ADD COLUMN alerted_at REAL;
ALTER TABLE batches ADD COLUMN errors_csv TEXT;
""", """
ALTER TABLE notices ADD COLUMN batch_state TEXT;
ALTER TABLE notices ADD COLUMN reason TEXT;
ALTER TABLE batches ADD COLUMN trouble_since REAL;
""", """
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_id INTEGER NOT NULL REFERENCES uploads(id),
    row INTEGER, column_name TEXT,
    message TEXT NOT NULL, fix TEXT NOT NULL,
    blocking INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_by_upload ON findings (upload_id, id);
CREATE TABLE IF NOT EXISTS ops_alerts (
    institution TEXT PRIMARY KEY,
    last_at REAL NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0
);
""", """
CREATE TABLE IF NOT EXISTS institution_holds (
    institution TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    held_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS transitions_by_record ON transitions (entity, entity_id);
CREATE INDEX IF NOT EXISTS transitions_by_target ON transitions (entity, to_state);
""", """
ALTER TABLE batches ADD COLUMN options TEXT;
ALTER TABLE batches ADD COLUMN row_counts TEXT;
""", """
ALTER TABLE uploads ADD COLUMN folder TEXT;
""", """
CREATE INDEX IF NOT EXISTS uploads_by_batch ON uploads (batch_id, id);
""", """
ALTER TABLE batches ADD COLUMN guard_ack INTEGER NOT NULL DEFAULT 0;
""", """
ALTER TABLE batches ADD COLUMN identity_json TEXT;
ALTER TABLE batches ADD COLUMN post_settles_at REAL;
ALTER TABLE batches ADD COLUMN reconcile_json TEXT;
ALTER TABLE batches ADD COLUMN terminal_seen_at REAL;
CREATE TABLE IF NOT EXISTS marks (
    name TEXT PRIMARY KEY,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS canvas_imports (
    institution TEXT NOT NULL,
    canvas TEXT NOT NULL,
    import_id INTEGER NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    attempt INTEGER NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (institution, canvas, import_id)
);
INSERT OR IGNORE INTO canvas_imports (institution, canvas, import_id, batch_id, attempt,
    recorded_at)
    SELECT institution, '', import_id, id, attempts, updated_at FROM batches
    WHERE import_id IS NOT NULL;
""", """
ALTER TABLE batches ADD COLUMN number INTEGER;
UPDATE batches SET number = id;
CREATE UNIQUE INDEX IF NOT EXISTS batches_by_number ON batches (institution, number);
ALTER TABLE notices ADD COLUMN token TEXT;
CREATE TABLE IF NOT EXISTS discards (
    id INTEGER PRIMARY KEY,
    institution TEXT NOT NULL,
    filename TEXT NOT NULL,
    folder TEXT,
    size INTEGER NOT NULL,
    reason TEXT NOT NULL,
    discarded_at REAL NOT NULL,
    batch_id INTEGER REFERENCES batches(id)
);
CREATE INDEX IF NOT EXISTS discards_by_institution ON discards (institution, batch_id, id);
""", """
ALTER TABLE notices ADD COLUMN prepare_failures INTEGER NOT NULL DEFAULT 0;
""", """
CREATE TABLE IF NOT EXISTS hooks (
    name TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hook_deliveries (
    hook TEXT NOT NULL,
    notice_id INTEGER NOT NULL REFERENCES notices(id),
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT,
    PRIMARY KEY (hook, notice_id)
);
CREATE INDEX IF NOT EXISTS hook_deliveries_due ON hook_deliveries (state, next_attempt_at);
""", """
CREATE TABLE IF NOT EXISTS export_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    institution TEXT NOT NULL,
    export TEXT NOT NULL,
    report TEXT NOT NULL,
    slot TEXT NOT NULL,
    trigger TEXT NOT NULL,
    state TEXT NOT NULL,
    parameters TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    trouble_since REAL,
    starting_at REAL,
    report_id INTEGER,
    canvas_state TEXT,
    file_name TEXT,
    size INTEGER,
    sha256 TEXT,
    published_at REAL,
    reason TEXT,
    UNIQUE (institution, export, slot)
);
CREATE INDEX IF NOT EXISTS export_runs_by_state ON export_runs (state, next_attempt_at);
ALTER TABLE notices ADD COLUMN export_run_id INTEGER REFERENCES export_runs(id);
""", """
CREATE TABLE IF NOT EXISTS waiting_totals (
    institution TEXT PRIMARY KEY,
    uploads INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT OR REPLACE INTO waiting_totals (institution, uploads, bytes)
    SELECT institution, count(*), sum(size) FROM uploads WHERE state = 'received'
    GROUP BY institution;
CREATE INDEX IF NOT EXISTS uploads_by_name ON uploads (institution, state, filename, id);
""")
"""Schema steps; ``PRAGMA user_version`` records how many have been applied.  Append only."""

_TABLES: dict[str, tuple[str, dict[Any, frozenset[Any]]]] = {
    "upload": ("uploads", UPLOAD_TRANSITIONS),
    "batch": ("batches", BATCH_TRANSITIONS),
    "notice": ("notices", NOTICE_TRANSITIONS),
    "export_run": ("export_runs", EXPORT_RUN_TRANSITIONS),
}

_WRITABLE_COLUMNS = frozenset({
    "kind", "rows", "problem", "batch_id", "next_attempt_at", "attempts", "recoveries",
    "submitted_at", "import_id", "posted_at", "finished_at", "canvas_state", "canvas_json",
    "reason", "sent_at", "last_error", "alerted_at", "errors_csv", "trouble_since",
    "guard_ack", "identity_json", "post_settles_at", "reconcile_json", "terminal_seen_at",
    "prepare_failures", "starting_at", "report_id", "file_name", "size", "sha256",
    "published_at",
})

State = UploadState | BatchState | NoticeState | ExportRunState


class Transaction:
    """Writes made inside one store transaction; see Store.transaction."""

    def __init__(self, connection: sqlite3.Connection, now: float) -> None:
        self._db = connection
        self.now = now

    def record_upload(self, institution: str, filename: str, size: int, sha256: str, *,
                      folder: str | None = None) -> int:
        """Insert a RECEIVED upload and return its id.  ``folder`` is the upload folder it
        came through (``batch/<term_sis_id>``, ``diff/<identifier>``; None: plain /inbox)."""
        cursor = self._db.execute(
            "INSERT INTO uploads (institution, filename, size, sha256, state, received_at,"
            " updated_at, folder) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (institution, filename, size, sha256, UploadState.RECEIVED, self.now, self.now,
             folder),
        )
        upload_id = _last_id(cursor)
        self._db.execute(
            "INSERT INTO waiting_totals (institution, uploads, bytes) VALUES (?, 1, ?)"
            " ON CONFLICT (institution) DO UPDATE SET uploads = uploads + 1,"
            " bytes = bytes + excluded.bytes", (institution, size))
        self._log("upload", upload_id, None, UploadState.RECEIVED, filename)
        return upload_id

    def create_batch(self, institution: str, *, options: dict[str, str] | None = None,
                     row_counts: dict[str, int] | None = None) -> int:
        """Insert an OPEN batch and return its id (ids grow, so they give the queue order).

        ``options`` are the Canvas import parameters it is posted with; ``row_counts`` its
        data rows per kind (for the mass-change guard).  The batch also gets the next of
        its institution's own numbers (``BatchRecord.reference``): what its sender sees,
        so no institution learns another's volume from it."""
        cursor = self._db.execute(
            "INSERT INTO batches (institution, state, created_at, updated_at, options,"
            " row_counts, number) VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(number), 0)"
            " + 1 FROM batches WHERE institution = ?))",
            (institution, BatchState.OPEN, self.now, self.now,
             json.dumps(options or {}, sort_keys=True), json.dumps(row_counts or {}),
             institution),
        )
        batch_id = _last_id(cursor)
        self._log("batch", batch_id, None, BatchState.OPEN, None)
        return batch_id

    def add_notice(self, kind: str, institution: str, batch_id: int | None, *,
                   batch_state: BatchState | None = None, reason: str | None = None,
                   export_run_id: int | None = None) -> int:
        """Queue a notice (report or alert) to send as soon as possible.

        ``batch_state`` and ``reason`` fix what the notice reports at the moment it was
        caused, so a report stays true even if an operator moves the batch before it is sent.
        ``export_run_id`` names the export run an export notice is about.
        """
        cursor = self._db.execute(
            "INSERT INTO notices (kind, institution, batch_id, state, next_attempt_at,"
            " created_at, batch_state, reason, token, export_run_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, institution, batch_id, NoticeState.PENDING, self.now, self.now,
             batch_state, reason, secrets.token_hex(8), export_run_id),
        )
        return _last_id(cursor)

    def add_export_run(self, institution: str, export: str, report: str, *, slot: str,
                       trigger: str, parameters: Mapping[str, str]) -> int | None:
        """Queue a SCHEDULED run of ``export`` for ``slot`` and return its id, or None when
        that slot already has a run: a slot (a schedule time, an import, a request) is run
        once, however often it is planned (after a crash, by racing planners)."""
        cursor = self._db.execute(
            "INSERT INTO export_runs (institution, export, report, slot, trigger, state,"
            " parameters, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (institution, export, slot) DO NOTHING",
            (institution, export, report, slot, trigger, ExportRunState.SCHEDULED,
             json.dumps(dict(parameters), sort_keys=True), self.now, self.now))
        if cursor.rowcount != 1:
            return None
        run_id = _last_id(cursor)
        self._log("export_run", run_id, None, ExportRunState.SCHEDULED, slot)
        return run_id

    def add_finding(self, upload_id: int, finding: FindingRecord) -> None:
        """Record one validation finding of an upload (its ``file`` is the upload's name)."""
        self._db.execute(
            "INSERT INTO findings (upload_id, row, column_name, message, fix, blocking)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (upload_id, finding.row, finding.column, finding.message, finding.fix,
             int(finding.blocking)),
        )

    def ops_alert_allowed(self, institution: str, interval: float) -> bool:
        """True (and remembered) when ops may be alerted about ``institution`` now: at most
        one alert per ``interval`` seconds; suppressed ones are counted."""
        row = self._db.execute("SELECT last_at FROM ops_alerts WHERE institution = ?",
                               (institution,)).fetchone()
        if row is not None and self.now - row[0] < interval:
            self._db.execute("UPDATE ops_alerts SET suppressed = suppressed + 1"
                             " WHERE institution = ?", (institution,))
            return False
        self._db.execute("INSERT INTO ops_alerts (institution, last_at) VALUES (?, ?)"
                         " ON CONFLICT (institution) DO UPDATE SET last_at = excluded.last_at,"
                         " suppressed = 0", (institution, self.now))
        return True

    def hold_institution(self, institution: str, reason: str) -> bool:
        """Stop an institution's queue (no new posts); False if it was already held."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO institution_holds (institution, reason, held_at)"
            " VALUES (?, ?, ?)", (institution, reason, self.now))
        return cursor.rowcount == 1

    def release_institution(self, institution: str) -> bool:
        """Lift an institution's hold; False if it was not held."""
        cursor = self._db.execute("DELETE FROM institution_holds WHERE institution = ?",
                                  (institution,))
        return cursor.rowcount == 1

    def record_import(self, institution: str, canvas: str, import_id: int, batch_id: int,
                      attempt: int) -> None:
        """Remember that import ``import_id`` of the Canvas at ``canvas`` (its base URL: ids
        are per Canvas instance) is this batch attempt's, for good: a requeue replaces the
        batch's ``import_id``, but the reconcile must still know it."""
        self._db.execute(
            "INSERT INTO canvas_imports (institution, canvas, import_id, batch_id, attempt,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (institution, canvas, import_id, batch_id, attempt, self.now))

    def reject_alone(self, upload_id: int, *, institution: str, reason: str,
                     problem: str) -> int:
        """Move a RECEIVED upload to REJECTED in a new batch of its own (which the sorter
        then ends as REJECTED, with a report to the sender); returns the batch id.  Raises
        TransitionError if the upload is no longer RECEIVED."""
        batch_id = self.create_batch(institution)
        self.move("upload", upload_id, UploadState.RECEIVED, UploadState.REJECTED,
                  reason=reason, batch_id=batch_id, problem=problem)
        return batch_id

    def record_discard(self, institution: str, filename: str, *, folder: str | None,
                       size: int, reason: str) -> int:
        """Remember an upload the intake dropped without receiving it (a temp-named file
        never renamed), so its sender is told: in status.json and the next batch's report."""
        cursor = self._db.execute(
            "INSERT INTO discards (institution, filename, folder, size, reason, discarded_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (institution, filename, folder, size, reason,
                                          self.now))
        return _last_id(cursor)

    def claim_discards(self, institution: str, batch_id: int) -> int:
        """Give the institution's discards no report has named yet to ``batch_id``'s
        reports; returns how many."""
        cursor = self._db.execute(
            "UPDATE discards SET batch_id = ? WHERE institution = ? AND batch_id IS NULL",
            (batch_id, institution))
        return cursor.rowcount

    def queue_hook_events(self, hook: str, events: Mapping[int, str], cursor: int) -> None:
        """Queue ``events`` (notice id -> event name) for webhook ``hook`` and move its cursor
        to notice ``cursor``: both or neither, so no event is skipped or queued twice."""
        self._db.executemany(
            "INSERT INTO hook_deliveries (hook, notice_id, event, state, next_attempt_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(hook, notice_id, event, NoticeState.PENDING, self.now, self.now)
             for notice_id, event in events.items()])
        self._db.execute("INSERT INTO hooks (name, cursor) VALUES (?, ?) ON CONFLICT (name)"
                         " DO UPDATE SET cursor = excluded.cursor", (hook, cursor))

    def hook_attempted(self, delivery: HookDeliveryRecord, state: NoticeState, *,
                       error: str | None = None, next_attempt_at: float | None = None) -> None:
        """Record one try of ``delivery``: SENT, FAILED, or PENDING again at
        ``next_attempt_at``.  Compare-and-set on PENDING; raises TransitionError if another
        sender moved it meanwhile."""
        cursor = self._db.execute(
            "UPDATE hook_deliveries SET state = ?, attempts = attempts + 1, last_error = ?,"
            " sent_at = ?, next_attempt_at = ? WHERE hook = ? AND notice_id = ? AND state = ?",
            (state, error, self.now if state is NoticeState.SENT else None,
             next_attempt_at if next_attempt_at is not None else delivery.next_attempt_at,
             delivery.hook, delivery.notice_id, NoticeState.PENDING))
        if cursor.rowcount != 1:
            raise TransitionError(f"webhook delivery {delivery.hook}/{delivery.notice_id} is "
                                  "no longer pending")

    def set_mark(self, name: str, at: float | None) -> None:
        """Set (or with None, clear) a named time mark, such as ``clean_stop``."""
        if at is None:
            self._db.execute("DELETE FROM marks WHERE name = ?", (name,))
        else:
            self._db.execute("INSERT INTO marks (name, at) VALUES (?, ?) ON CONFLICT (name)"
                             " DO UPDATE SET at = excluded.at", (name, at))

    def move(self, entity: str, record_id: int, expected: State, new: State,
             reason: str | None = None, **fields: Any) -> None:
        """Compare-and-set ``entity`` ``record_id`` from ``expected`` to ``new``.

        ``fields`` are written in the same statement.  Raises TransitionError when the edge is
        not drawn in the tables or the record is not in ``expected`` (someone else moved it).
        """
        table, edges = _TABLES[entity]
        if new not in edges[expected]:
            raise TransitionError(f"{entity} {record_id}: {expected} -> {new} is not allowed")
        unknown = set(fields) - _WRITABLE_COLUMNS
        if unknown:
            raise ValueError(f"not writable: {sorted(unknown)}")
        values = {key: _column_value(value) for key, value in fields.items()}
        if entity != "notice":
            values["updated_at"] = self.now
        if reason is not None and entity in ("batch", "export_run"):
            values["reason"] = reason
        assignments = "".join(f", {column} = ?" for column in values)
        cursor = self._db.execute(
            f"UPDATE {table} SET state = ?{assignments} WHERE id = ? AND state = ?",
            (new, *values.values(), record_id, expected),
        )
        if cursor.rowcount != 1:
            raise TransitionError(f"{entity} {record_id} is no longer {expected}")
        if entity == "upload" and expected is UploadState.RECEIVED:
            self._db.execute(  # no edge leads back to RECEIVED: it leaves the waiting totals
                "UPDATE waiting_totals SET uploads = uploads - 1, bytes = bytes - u.size"
                " FROM (SELECT institution, size FROM uploads WHERE id = ?) AS u"
                " WHERE waiting_totals.institution = u.institution", (record_id,))
        self._log(entity, record_id, expected, new, reason)

    def update(self, entity: str, record_id: int, expected: State, **fields: Any) -> None:
        """Change fields of a record that must still be in ``expected``; the state stays."""
        table, _ = _TABLES[entity]
        unknown = set(fields) - _WRITABLE_COLUMNS
        if unknown or not fields:
            raise ValueError(f"not writable: {sorted(unknown)}")
        assignments = ", ".join(f"{column} = ?" for column in fields)
        cursor = self._db.execute(
            f"UPDATE {table} SET {assignments} WHERE id = ? AND state = ?",
            (*(_column_value(v) for v in fields.values()), record_id, expected),
        )
        if cursor.rowcount != 1:
            raise TransitionError(f"{entity} {record_id} is no longer {expected}")

    def _log(self, entity: str, record_id: int, old: State | None, new: State,
             reason: str | None) -> None:
        self._db.execute(
            "INSERT INTO transitions (entity, entity_id, from_state, to_state, at, reason)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (entity, record_id, old, new, self.now, reason),
        )


def _last_id(cursor: sqlite3.Cursor) -> int:
    if cursor.lastrowid is None:
        raise RuntimeError("insert returned no row id")
    return cursor.lastrowid


def _column_value(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


class Store:
    """The SQLite state store at ``path``; safe to use from many threads and processes."""

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock
        self._local = threading.local()
        self._migrate()

    def _migrate(self) -> None:
        """Apply the schema steps this store has not seen yet, each in its own transaction."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, step.split(";")):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed transition survives a power cut, not just a process crash.
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Run the block as one write transaction; commit on success, roll back on error."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(connection, self.clock())
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _rows(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        return self._connection().execute(sql, params).fetchall()

    def read(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """Rows of one SELECT, for read models that aggregate (metrics, the status page).
        State changes never go through here; raises ValueError for anything but a SELECT."""
        if not sql.lstrip().upper().startswith("SELECT"):
            raise ValueError("Store.read runs SELECT statements only")
        return self._rows(sql, *params)

    # -- queries ---------------------------------------------------------------------------

    def upload(self, upload_id: int) -> UploadRecord:
        """One upload; raises KeyError when there is none."""
        rows = self._rows("SELECT * FROM uploads WHERE id = ?", upload_id)
        if not rows:
            raise KeyError(f"no upload {upload_id}")
        return UploadRecord.from_row(rows[0])

    def uploads(self, *, institution: str | None = None, state: UploadState | None = None,
                batch_id: int | None = None) -> list[UploadRecord]:
        """Uploads matching every filter given, in arrival order."""
        clauses, params = _filters(institution=institution, state=state, batch_id=batch_id)
        rows = self._rows(f"SELECT * FROM uploads{clauses} ORDER BY id", *params)
        return [UploadRecord.from_row(row) for row in rows]

    def waiting_bytes(self, institution: str) -> int:
        """Bytes of the institution's uploads received and not yet batched: a running total
        kept in the transactions that receive and batch uploads, so one row is read however
        many uploads wait."""
        rows = self._rows("SELECT bytes FROM waiting_totals WHERE institution = ?",
                          institution)
        return int(rows[0][0]) if rows else 0

    def waiting(self, institution: str, *, newest: bool = False, limit: int = -1,
                through: int | None = None) -> list[UploadRecord]:
        """The institution's RECEIVED uploads in arrival order (``newest``: newest first),
        at most ``limit`` of them (-1: all), only those up to id ``through`` if given.  Read
        through the ``uploads_by_state`` index: only the rows returned are visited."""
        bound = " AND id <= ?" if through is not None else ""
        order = "DESC" if newest else "ASC"
        params = (institution, UploadState.RECEIVED,
                  *((through,) if through is not None else ()), limit)
        rows = self._rows(f"SELECT * FROM uploads INDEXED BY uploads_by_state WHERE"
                          f" institution = ? AND state = ?{bound} ORDER BY id {order}"
                          " LIMIT ?", *params)
        return [UploadRecord.from_row(row) for row in rows]

    def waiting_named(self, institution: str, folder: str | None,
                      filename: str) -> UploadRecord | None:
        """The newest RECEIVED upload of ``filename`` in upload folder ``folder`` (None:
        /inbox itself), read through the ``uploads_by_name`` index."""
        rows = self._rows("SELECT * FROM uploads INDEXED BY uploads_by_name WHERE"
                          " institution = ? AND state = ? AND filename = ? AND folder IS ?"
                          " ORDER BY id DESC LIMIT 1", institution, UploadState.RECEIVED,
                          filename, folder)
        return UploadRecord.from_row(rows[0]) if rows else None

    def batch(self, batch_id: int) -> BatchRecord:
        """One batch; raises KeyError when there is none."""
        rows = self._rows("SELECT * FROM batches WHERE id = ?", batch_id)
        if not rows:
            raise KeyError(f"no batch {batch_id}")
        return BatchRecord.from_row(rows[0])

    def batches(self, *, institution: str | None = None,
                state: BatchState | None = None) -> list[BatchRecord]:
        """Batches matching every filter given, oldest first."""
        clauses, params = _filters(institution=institution, state=state)
        rows = self._rows(f"SELECT * FROM batches{clauses} ORDER BY id", *params)
        return [BatchRecord.from_row(row) for row in rows]

    def head_batch(self, institution: str, finished: frozenset[BatchState]) -> BatchRecord | None:
        """The oldest batch of an institution not in ``finished``: the one whose turn it is."""
        marks = ", ".join("?" for _ in finished)
        rows = self._rows(
            f"SELECT * FROM batches WHERE institution = ? AND state NOT IN ({marks})"
            " ORDER BY id LIMIT 1", institution, *finished,
        )
        return BatchRecord.from_row(rows[0]) if rows else None

    def notices(self, *, state: NoticeState | None = None,
                due_by: float | None = None) -> list[NoticeRecord]:
        """Notices in ``state`` (and due by ``due_by`` if given), oldest first."""
        clauses, params = _filters(state=state)
        if due_by is not None:
            clauses += (" AND" if clauses else " WHERE") + " next_attempt_at <= ?"
            params.append(due_by)
        rows = self._rows(f"SELECT * FROM notices{clauses} ORDER BY id", *params)
        return [NoticeRecord.from_row(row) for row in rows]

    def findings(self, batch_id: int, limit: int = -1) -> list[FindingRecord]:
        """Findings of a batch's uploads in upload then row order (all, or the first
        ``limit``)."""
        rows = self._rows(
            "SELECT u.filename AS file, f.row, f.column_name, f.message, f.fix, f.blocking"
            " FROM uploads u JOIN findings f ON f.upload_id = u.id WHERE u.batch_id = ?"
            " ORDER BY u.id, f.id LIMIT ?", batch_id, limit)
        return [FindingRecord.from_row(row) for row in rows]

    def finding_count(self, batch_id: int) -> int:
        """How many findings a batch's uploads have."""
        rows = self._rows("SELECT count(*) FROM uploads u JOIN findings f ON f.upload_id ="
                          " u.id WHERE u.batch_id = ?", batch_id)
        return int(rows[0][0])

    def history(self, entity: str, record_id: int) -> list[dict[str, Any]]:
        """Every state change of a record, oldest first (time, from, to, reason)."""
        rows = self._rows("SELECT at, from_state, to_state, reason FROM transitions"
                          " WHERE entity = ? AND entity_id = ? ORDER BY id", entity, record_id)
        return [{"at": row["at"], "from": row["from_state"], "to": row["to_state"],
                 "reason": row["reason"]} for row in rows]

    def institution_holds(self) -> dict[str, InstitutionHold]:
        """The institutions whose queues an operator stopped, by name."""
        rows = self._rows("SELECT * FROM institution_holds ORDER BY institution")
        return {row["institution"]: InstitutionHold.from_row(row) for row in rows}

    def successes(self, institution: str, before: int, limit: int = 500) -> list[BatchRecord]:
        """The institution's imported batches older than batch ``before``, newest first."""
        rows = self._rows(
            "SELECT * FROM batches WHERE institution = ? AND id < ? AND state IN (?, ?)"
            " ORDER BY id DESC LIMIT ?", institution, before, BatchState.IMPORTED,
            BatchState.IMPORTED_WITH_MESSAGES, limit)
        return [BatchRecord.from_row(row) for row in rows]

    def last_imported(self, institution: str) -> tuple[int, BatchRecord] | None:
        """The institution's batch that most recently finished importing, by completion order
        (not batch id: a lower-id batch can finish later, released from a hold), with its
        place in that order: the id of its move to IMPORTED*, written in the move's own
        transaction and never reused.  None before the first import."""
        rows = self._rows(
            "SELECT t.id, t.entity_id FROM transitions t JOIN batches b ON b.id = t.entity_id"
            " WHERE t.entity = 'batch' AND t.to_state IN (?, ?) AND b.institution = ?"
            " ORDER BY t.id DESC LIMIT 1", BatchState.IMPORTED,
            BatchState.IMPORTED_WITH_MESSAGES, institution)
        return (int(rows[0][0]), self.batch(int(rows[0][1]))) if rows else None

    def import_ids(self, institution: str, canvas: str) -> set[int]:
        """Ids of the imports the gateway made in the Canvas at ``canvas`` (a base URL), for
        any institution, plus those recorded for ``institution`` before the Canvas was."""
        rows = self._rows("SELECT import_id FROM canvas_imports WHERE canvas = ?"
                          " OR (canvas = '' AND institution = ?)", canvas, institution)
        return {int(row[0]) for row in rows}

    def held_from(self, batch_id: int) -> BatchState | None:
        """The state a batch was in when it was last moved to HELD (None if never held)."""
        rows = self._rows(
            "SELECT from_state FROM transitions WHERE entity = 'batch' AND entity_id = ?"
            " AND to_state = ? ORDER BY id DESC LIMIT 1", batch_id, BatchState.HELD)
        return BatchState(rows[0][0]) if rows and rows[0][0] else None

    def discards(self, institution: str, *, batch_id: int | None = None,
                 limit: int = 20) -> list[DiscardRecord]:
        """The institution's discards, newest first: those a batch's reports name
        (``batch_id``), else the latest ``limit`` of them."""
        if batch_id is not None:
            rows = self._rows("SELECT * FROM discards WHERE institution = ? AND batch_id = ?"
                              " ORDER BY id DESC LIMIT ?", institution, batch_id, limit)
        else:
            rows = self._rows("SELECT * FROM discards WHERE institution = ?"
                              " ORDER BY id DESC LIMIT ?", institution, limit)
        return [DiscardRecord.from_row(row) for row in rows]

    def hook_cursor(self, hook: str) -> int | None:
        """The last notice id webhook ``hook`` has looked at (None: never started)."""
        rows = self._rows("SELECT cursor FROM hooks WHERE name = ?", hook)
        return int(rows[0][0]) if rows else None

    def last_notice_id(self) -> int:
        """The newest notice's id (0 when there is none)."""
        return int(self._rows("SELECT COALESCE(MAX(id), 0) FROM notices")[0][0])

    def notices_after(self, notice_id: int, limit: int = 500) -> list[NoticeRecord]:
        """Notices newer than ``notice_id``, oldest first, at most ``limit``."""
        rows = self._rows("SELECT * FROM notices WHERE id > ? ORDER BY id LIMIT ?",
                          notice_id, limit)
        return [NoticeRecord.from_row(row) for row in rows]

    def hook_deliveries(self, *, hook: str | None = None, due_by: float | None = None,
                        state: NoticeState | None = None) -> list[HookDeliveryRecord]:
        """Webhook deliveries (of ``hook``, in ``state``), oldest first; with ``due_by``,
        the PENDING ones due by then."""
        clauses: list[str] = []
        params: list[Any] = []
        if hook is not None:
            clauses.append("hook = ?")
            params.append(hook)
        if state is not None:
            clauses.append("state = ?")
            params.append(state)
        if due_by is not None:
            clauses += ["state = ?", "next_attempt_at <= ?"]
            params += [NoticeState.PENDING, due_by]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._rows(f"SELECT * FROM hook_deliveries{where} ORDER BY notice_id, hook",
                          *params)
        return [HookDeliveryRecord.from_row(row) for row in rows]

    def mark(self, name: str) -> float | None:
        """The time of a named mark (see Transaction.set_mark), or None."""
        rows = self._rows("SELECT at FROM marks WHERE name = ?", name)
        return float(rows[0][0]) if rows else None

    def notice(self, notice_id: int) -> NoticeRecord:
        """One notice; raises KeyError when there is none."""
        rows = self._rows("SELECT * FROM notices WHERE id = ?", notice_id)
        if not rows:
            raise KeyError(f"no notice {notice_id}")
        return NoticeRecord.from_row(rows[0])


def _filters(**filters: Any) -> tuple[str, list[Any]]:
    used = {column: value for column, value in filters.items() if value is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{column} = ?" for column in used), list(used.values())
