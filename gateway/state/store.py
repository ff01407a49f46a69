"""The state store: the one source of truth for every record's state, on SQLite (the
default) or PostgreSQL, behind one connection adapter (``gateway.state.database``).

Every change happens inside :meth:`Store.transaction`, and every state change is a
compare-and-set checked against the transition tables, written together with its side effects
(the transition log row, the notice to send).  A crash therefore leaves each record in exactly
one drawn state, with its side effects present or absent together.  Reads are named queries
(here, ``status_views`` and ``export_queries``); no SQL is written outside ``gateway/state``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.state import schema
from gateway.state.database import Database, Row
from gateway.state.export_queries import ExportRunQueries
from gateway.state.intake_rows import IntakeRows
from gateway.state.leases import LeaseBook, LeaseFence
from gateway.state.records import (
    BatchRecord,
    DiscardRecord,
    FindingRecord,
    HookDeliveryRecord,
    InstitutionHold,
    NoticeRecord,
    UploadRecord,
)
from gateway.state.sqlite import SqliteDatabase
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, NoticeState, UploadState
from gateway.state.status_views import SqlStatusViews
from gateway.state.transaction import Transaction

Clock = Callable[[], float]
_CHUNK = 500


class Store(SqlStatusViews, ExportRunQueries):
    """The state store on ``database`` (a path: the SQLite file there); safe to use from
    many threads and processes.  Opening it applies the schema steps it has not seen.

    ``leases``: in cluster mode, this node's lease book: every transaction then fences its
    writes for an institution by the institution's lease (see Transaction).  None (one
    machine, operator commands): nothing is fenced, at no cost."""

    def __init__(self, database: Path | Database, clock: Clock = time.time, *,
                 leases: LeaseBook | None = None) -> None:
        self.database: Database = (SqliteDatabase(database) if isinstance(database, Path)
                                   else database)
        self.clock = clock
        self.database.migrate(schema.MIGRATIONS)
        self.intake = IntakeRows(self.database)
        self._fence = LeaseFence(leases, self.database) if leases is not None else None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Run the block as one write transaction; commit on success, roll back on error
        (LeaseLost included: a fenced write found this node's lease gone)."""
        with self.database.transaction() as session:
            yield Transaction(session, self.clock(), self._fence)

    def close(self) -> None:
        """Release this thread's connection (SQLite) or the pool (PostgreSQL)."""
        self.database.close()

    def _rows(self, sql: str, *params: Any) -> list[Row]:
        return self.database.rows(sql, params)

    def _hint(self, index: str) -> str:
        return self.database.hint(index)

    # -- queries ---------------------------------------------------------------------------

    def upload(self, upload_id: int) -> UploadRecord:
        """One upload; raises KeyError when there is none."""
        rows = self._rows("SELECT * FROM uploads WHERE id = ?", upload_id)
        if not rows:
            raise KeyError(f"no upload {upload_id}")
        return UploadRecord.from_row(rows[0])

    def upload_by_payload(self, name: str) -> UploadRecord | None:
        """The upload whose record names payload ``name``, if one was committed."""
        rows = self._rows("SELECT * FROM uploads WHERE payload = ?", name)
        return UploadRecord.from_row(rows[0]) if rows else None

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

    def waiting(self, institution: str, *, newest: bool = False, limit: int | None = None,
                through: int | None = None) -> list[UploadRecord]:
        """The institution's RECEIVED uploads in arrival order (``newest``: newest first),
        at most ``limit`` of them (None: all), only those up to id ``through`` if given.
        Read through the ``uploads_by_state`` index: only the rows returned are visited."""
        bound = " AND id <= ?" if through is not None else ""
        order = "DESC" if newest else "ASC"
        params: list[Any] = [institution, UploadState.RECEIVED]
        if through is not None:
            params.append(through)
        rows = self._rows(f"SELECT * FROM uploads{self.database.hint('uploads_by_state')}"
                          f" WHERE institution = ? AND state = ?{bound} ORDER BY id {order}"
                          f"{_limit(limit, params)}", *params)
        return [UploadRecord.from_row(row) for row in rows]

    def waiting_named(self, institution: str, folder: str | None,
                      filename: str) -> UploadRecord | None:
        """The newest RECEIVED upload of ``filename`` in upload folder ``folder`` (None:
        /inbox itself), read through the ``uploads_by_name`` index."""
        rows = self._rows(f"SELECT * FROM uploads{self.database.hint('uploads_by_name')}"
                          " WHERE institution = ? AND state = ? AND filename = ?"
                          " AND folder IS NOT DISTINCT FROM ? ORDER BY id DESC LIMIT 1",
                          institution, UploadState.RECEIVED, filename, folder)
        return UploadRecord.from_row(rows[0]) if rows else None

    def unpurged_batches(self, states: frozenset[BatchState], ended_by: float,
                         limit: int, after: int = 0) -> list[BatchRecord]:
        """Up to ``limit`` batches in ``states`` that ended (or, never finished, were
        created) by ``ended_by`` and whose payloads retention has not purged yet, oldest
        first, with ids above ``after``.  Read through the partial ``batches_unpurged``
        index: its size is the retention window, not the whole history."""
        marks = ", ".join("?" for _ in states)
        rows = self._rows(
            f"SELECT * FROM batches{self.database.hint('batches_unpurged')}"
            f" WHERE purged_at IS NULL AND id > ? AND state IN ({marks})"
            " AND COALESCE(finished_at, created_at) <= ? ORDER BY id LIMIT ?",
            after, *sorted(states), ended_by, limit)
        return [BatchRecord.from_row(row) for row in rows]

    def known_uploads(self, upload_ids: Iterable[int]) -> set[int]:
        """Those of ``upload_ids`` that have a record (looked up by primary key, a chunk
        at a time: the cost follows the ids asked about, not the history)."""
        return {int(value) for value in self._lookup("id", sorted(set(upload_ids)))}

    def named_payloads(self, names: Iterable[str]) -> set[str]:
        """Those of ``names`` that an upload record gives as its payload's name (a chunk at
        a time, through the ``uploads_by_payload`` index)."""
        return {str(value) for value in self._lookup("payload", sorted(set(names)))}

    def _lookup(self, column: str, wanted: list[Any]) -> list[Any]:
        """The values of ``column`` (``id`` or ``payload``) among ``wanted`` that occur."""
        found: list[Any] = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            found.extend(row[0] for row in self._rows(
                f"SELECT {column} FROM uploads WHERE {column} IN ({marks})", *chunk))
        return found

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

    def head_batch(self, institution: str,
                   finished: frozenset[BatchState] = FINISHED_BATCH_STATES) -> BatchRecord | None:
        """The oldest batch of an institution not in ``finished``: the one whose turn it is."""
        marks = ", ".join("?" for _ in finished)
        rows = self._rows(
            f"SELECT * FROM batches WHERE institution = ? AND state NOT IN ({marks})"
            " ORDER BY id LIMIT 1", institution, *sorted(finished),
        )
        return BatchRecord.from_row(rows[0]) if rows else None

    def notices(self, *, state: NoticeState | None = None, due_by: float | None = None,
                batch_id: int | None = None) -> list[NoticeRecord]:
        """Notices in ``state`` (and due by ``due_by``, about batch ``batch_id``, if given),
        oldest first."""
        clauses, params = _filters(state=state, batch_id=batch_id)
        if due_by is not None:
            clauses += (" AND" if clauses else " WHERE") + " next_attempt_at <= ?"
            params.append(due_by)
        rows = self._rows(f"SELECT * FROM notices{clauses} ORDER BY id", *params)
        return [NoticeRecord.from_row(row) for row in rows]

    def findings(self, batch_id: int, limit: int | None = None) -> list[FindingRecord]:
        """Findings of a batch's uploads in upload then row order (all, or the first
        ``limit``)."""
        params: list[Any] = [batch_id]
        rows = self._rows(
            "SELECT u.filename AS file, f.row, f.column_name, f.message, f.fix, f.blocking"
            " FROM uploads u JOIN findings f ON f.upload_id = u.id WHERE u.batch_id = ?"
            f" ORDER BY u.id, f.id{_limit(limit, params)}", *params)
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

def _limit(limit: int | None, params: list[Any]) -> str:
    """A LIMIT clause (its value appended to ``params``), or none for None."""
    if limit is None:
        return ""
    params.append(limit)
    return " LIMIT ?"
