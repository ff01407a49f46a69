"""Writes made inside one store transaction: records created, states moved by compare-and-set.

One set of SQL for both adapters (``gateway.state.database``): ids come back by ``RETURNING
id``; a decision that reads before it writes (the next batch number, the alert interval)
first takes the adapter's lock on what it decides about, since PostgreSQL's READ COMMITTED,
unlike SQLite's single writer, lets two transactions read the same row at once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from gateway.state.counters import Counting
from gateway.state.database import Cursor, Session
from gateway.state.leases import LeaseFence
from gateway.state.records import FindingRecord, HookDeliveryRecord
from gateway.state.schema import TABLES, WRITABLE_COLUMNS, State, column_value
from gateway.state.states import (
    BatchState,
    ExportRunState,
    NoticeState,
    TransitionError,
    UploadState,
)


class Transaction:
    """Writes made inside one store transaction; see Store.transaction.

    With a ``fence`` (cluster mode), every write for an institution first confirms, in this
    transaction, that this node still holds the institution's lease (once per institution
    and transaction); if not, it raises LeaseLost and the whole transaction rolls back.
    Unfenced, because any node may do them for any institution: receiving an upload or a
    discard, planning an export run (a slot runs once, however often planned), marks and
    webhook bookkeeping."""

    def __init__(self, session: Session, now: float, fence: LeaseFence | None = None) -> None:
        self._db = session
        self.now = now
        self._fence = fence
        self._confirmed: set[str] = set()
        self._counts = Counting(session, now)  # metric counters, kept with what they count

    def _fenced(self, institution: str) -> None:
        """Raise LeaseLost unless this node may write for ``institution`` (see the class)."""
        if self._fence is not None and institution not in self._confirmed:
            self._fence.confirm(self._db, (institution,))
            self._confirmed.add(institution)

    def _fenced_record(self, table: str, record_id: int) -> None:
        """:meth:`_fenced` for the institution of a record (which never changes)."""
        if self._fence is not None:
            row = self._db.execute(f"SELECT institution FROM {table} WHERE id = ?",
                                   (record_id,)).fetchone()
            if row is not None:
                self._fenced(str(row[0]))

    def serialize(self, subject: str) -> None:
        """Make the read-then-write decisions about ``subject`` (``export-request:alpha/x``)
        taken in transactions that call this wait for each other until this one ends, so a
        read made after it is still true at commit on every backend."""
        self._db.lock(subject)

    def record_upload(self, institution: str, filename: str, size: int, sha256: str, *,
                      folder: str | None = None, payload: str | None = None) -> int:
        """Insert a RECEIVED upload and return its id.  ``folder`` is the upload folder it
        came through (``batch/<term_sis_id>``, ``diff/<identifier>``; None: plain /inbox);
        ``payload`` the name its bytes were already put under (None: its id)."""
        cursor = self._db.execute(
            "INSERT INTO uploads (institution, filename, size, sha256, state, received_at,"
            " updated_at, folder, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (institution, filename, size, sha256, UploadState.RECEIVED, self.now, self.now,
             folder, payload),
        )
        upload_id = _last_id(cursor)
        self._db.notify(f"upload:{institution}")  # its sorter may run on another node
        self._db.execute(
            "INSERT INTO waiting_totals (institution, uploads, bytes) VALUES (?, 1, ?)"
            " ON CONFLICT (institution) DO UPDATE SET uploads = waiting_totals.uploads + 1,"
            " bytes = waiting_totals.bytes + excluded.bytes", (institution, size))
        self._counts.upload_received(institution, size)
        self._log("upload", upload_id, None, UploadState.RECEIVED, filename)
        return upload_id

    def create_batch(self, institution: str, *, options: dict[str, str] | None = None,
                     row_counts: dict[str, int] | None = None) -> int:
        """Insert an OPEN batch and return its id (ids grow, so they give the queue order).

        ``options`` are the Canvas import parameters it is posted with; ``row_counts`` its
        data rows per kind (for the mass-change guard).  The batch also gets the next of
        its institution's own numbers (``BatchRecord.reference``): what its sender sees,
        so no institution learns another's volume from it."""
        self._fenced(institution)
        self._db.lock(f"batch-number:{institution}")
        cursor = self._db.execute(
            "INSERT INTO batches (institution, state, created_at, updated_at, options,"
            " row_counts, number) VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(number), 0)"
            " + 1 FROM batches WHERE institution = ?)) RETURNING id",
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

        Notices become visible in id order: readers that keep a cursor over notice ids (the
        webhook sender) would skip one that committed after a higher id.  SQLite's single
        writer gives that order; on PostgreSQL ids are drawn at insert, so notice writers
        take turns from their insert to their commit.
        """
        self._fenced(institution)
        self._db.lock("notices")
        cursor = self._db.execute(
            "INSERT INTO notices (kind, institution, batch_id, state, next_attempt_at,"
            " created_at, batch_state, reason, token, export_run_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
            " ON CONFLICT (institution, export, slot) DO NOTHING RETURNING id",
            (institution, export, report, slot, trigger, ExportRunState.SCHEDULED,
             json.dumps(dict(parameters), sort_keys=True), self.now, self.now))
        row = cursor.fetchone()
        if row is None:
            return None
        run_id = int(row[0])
        self._log("export_run", run_id, None, ExportRunState.SCHEDULED, slot)
        return run_id

    def add_finding(self, upload_id: int, finding: FindingRecord) -> None:
        """Record one validation finding of an upload (its ``file`` is the upload's name)."""
        self._fenced_record("uploads", upload_id)
        self._db.execute(
            "INSERT INTO findings (upload_id, row, column_name, message, fix, blocking)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (upload_id, finding.row, finding.column, finding.message, finding.fix,
             int(finding.blocking)),
        )

    def ops_alert_allowed(self, institution: str, interval: float) -> bool:
        """True (and remembered) when ops may be alerted about ``institution`` now: at most
        one alert per ``interval`` seconds; suppressed ones are counted."""
        self._fenced(institution)
        self._db.lock(f"ops-alert:{institution}")
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
        self._fenced(institution)
        cursor = self._db.execute(
            "INSERT INTO institution_holds (institution, reason, held_at)"
            " VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (institution, reason, self.now))
        return cursor.rowcount == 1

    def release_institution(self, institution: str) -> bool:
        """Lift an institution's hold; False if it was not held."""
        self._fenced(institution)
        cursor = self._db.execute("DELETE FROM institution_holds WHERE institution = ?",
                                  (institution,))
        return cursor.rowcount == 1

    def record_import(self, institution: str, canvas: str, import_id: int, batch_id: int,
                      attempt: int) -> None:
        """Remember that import ``import_id`` of the Canvas at ``canvas`` (its base URL: ids
        are per Canvas instance) is this batch attempt's, for good: a requeue replaces the
        batch's ``import_id``, but the reconcile must still know it."""
        self._fenced(institution)
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
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id", (institution, filename, folder, size,
                                                       reason, self.now))
        return _last_id(cursor)

    def claim_discards(self, institution: str, batch_id: int) -> int:
        """Give the institution's discards no report has named yet to ``batch_id``'s
        reports; returns how many."""
        self._fenced(institution)
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

    def mark_purged(self, batch_id: int) -> None:
        """Record that retention removed the batch's payloads (its record stays)."""
        self._fenced_record("batches", batch_id)
        self._db.execute("UPDATE batches SET purged_at = ? WHERE id = ?", (self.now, batch_id))

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
        table, edges = TABLES[entity]
        if new not in edges[expected]:
            raise TransitionError(f"{entity} {record_id}: {expected} -> {new} is not allowed")
        unknown = set(fields) - WRITABLE_COLUMNS
        if unknown:
            raise ValueError(f"not writable: {sorted(unknown)}")
        self._fenced_record(table, record_id)
        values = {key: column_value(value) for key, value in fields.items()}
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
        self._counts.moved(entity, record_id, new, fields)
        self._log(entity, record_id, expected, new, reason)

    def update(self, entity: str, record_id: int, expected: State, **fields: Any) -> None:
        """Change fields of a record that must still be in ``expected``; the state stays."""
        table, _ = TABLES[entity]
        unknown = set(fields) - WRITABLE_COLUMNS
        if unknown or not fields:
            raise ValueError(f"not writable: {sorted(unknown)}")
        self._fenced_record(table, record_id)
        assignments = ", ".join(f"{column} = ?" for column in fields)
        cursor = self._db.execute(
            f"UPDATE {table} SET {assignments} WHERE id = ? AND state = ?",
            (*(column_value(v) for v in fields.values()), record_id, expected),
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



def _last_id(cursor: Cursor) -> int:
    """The id an ``INSERT ... RETURNING id`` gave."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("insert returned no row id")
    return int(row[0])
