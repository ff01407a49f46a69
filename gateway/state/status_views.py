"""Named aggregate reads for metrics, the status page and ``gateway status``.

Each is one query over an indexed table, in SQL both adapters accept (``SUM(CASE ...)``, not
SQLite's sum of booleans), returning plain values: callers never see rows or SQL.  What
metrics read follows the live work or the number of institutions, never the history: counts
of everything that ever happened are the metric counters kept in transactions
(``gateway.state.counters``); the gauges read only unfinished rows through an index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from gateway.state.counters import Family
from gateway.state.database import Row
from gateway.state.records import BatchRecord
from gateway.state.states import BatchState, NoticeState, UploadState


class CounterValue(NamedTuple):
    """One row of the metric counters (``gateway.state.counters``)."""

    family: str
    institution: str
    export: str
    label: str
    value: float


class BatchCount(NamedTuple):
    """How many of an institution's batches are in one state, and the oldest one's age."""

    institution: str
    state: str
    batches: int
    oldest_created_at: float


class SqlStatusViews:
    """The read models; mixed into ``Store``, which supplies ``_rows`` and ``_hint``."""

    def _rows(self, sql: str, *params: Any) -> list[Row]:
        raise NotImplementedError

    def _hint(self, index: str) -> str:
        raise NotImplementedError

    def counters(self, families: Iterable[str]) -> list[CounterValue]:
        """The metric counters of ``families``: kept in the transactions that change what
        they count, so this reads a row per (institution, label), never the history."""
        wanted = list(families)
        rows = self._rows("SELECT family, institution, export, label, value FROM"
                          f" metric_counters WHERE family IN ({_marks(wanted)})", *wanted)
        return [CounterValue(row[0], row[1], row[2], row[3], float(row[4])) for row in rows]

    def waiting_uploads(self) -> dict[str, int]:
        """Per institution, its uploads waiting for a batch (the running totals)."""
        rows = self._rows("SELECT institution, uploads FROM waiting_totals")
        return {row[0]: int(row[1]) for row in rows}

    def batch_counts(self, states: Iterable[BatchState]) -> list[BatchCount]:
        """Batches in ``states`` per institution and state, with the oldest one's creation
        time: read through the ``batches_by_state`` index, so only batches in ``states``
        (the unfinished ones, for metrics: the live work) are visited."""
        wanted = list(states)
        rows = self._rows(
            "SELECT institution, state, COUNT(*), MIN(created_at) FROM batches"
            f"{self._hint('batches_by_state')} WHERE state IN ({_marks(wanted)})"
            " GROUP BY institution, state", *wanted)
        return [BatchCount(row[0], row[1], int(row[2]), float(row[3])) for row in rows]

    def oldest_waiting_uploads(self) -> dict[str, float]:
        """Per institution, when its oldest upload still waiting for a batch arrived: only
        the institutions the running totals say have some, each read through the
        ``uploads_by_state`` index (the waiting uploads, not every one ever received)."""
        rows = self._rows("SELECT w.institution, (SELECT MIN(u.received_at) FROM uploads u"
                          " WHERE u.institution = w.institution AND u.state = ?)"
                          " FROM waiting_totals w WHERE w.uploads > 0", UploadState.RECEIVED)
        return {row[0]: float(row[1]) for row in rows if row[1] is not None}

    def outbox_depth(self) -> dict[str, int]:
        """Notices not sent (pending or failed), by state: read through the ``notices_due``
        index, so the sent ones, nearly all of history, are never visited."""
        rows = self._rows("SELECT state, COUNT(*) FROM notices WHERE state IN (?, ?)"
                          " GROUP BY state", NoticeState.PENDING, NoticeState.FAILED)
        return {row[0]: int(row[1]) for row in rows}

    def recent_batches(self, limit: int) -> list[BatchRecord]:
        """The newest ``limit`` batches, newest first."""
        rows = self._rows("SELECT * FROM batches ORDER BY id DESC LIMIT ?", limit)
        return [BatchRecord.from_row(row) for row in rows]

    def current_batches(self, unfinished: Iterable[BatchState], successes: Iterable[BatchState],
                        institutions: Sequence[str], only: str | None = None
                        ) -> list[BatchRecord]:
        """Batches in ``unfinished`` states (only ``only``'s, if given) and the latest batch
        in one of ``successes`` of each of ``institutions``, oldest first.  Each latest one
        is an index lookup per institution and state: the cost follows the institutions and
        the unfinished work, never the history."""
        open_states = list(unfinished)
        params: list[Any] = list(open_states)
        only_clause = ""
        if only is not None:
            only_clause = " AND institution = ?"
            params.append(only)
        pairs = [(name, state) for name in institutions for state in successes]
        latest = ""
        if pairs:
            latest = (" OR id IN (SELECT (SELECT MAX(b.id) FROM batches b"
                      " WHERE b.institution = w.column1 AND b.state = w.column2)"
                      f" FROM (VALUES {', '.join('(?, ?)' for _ in pairs)}) AS w)")
            params.extend(value for pair in pairs for value in pair)
        rows = self._rows(f"SELECT * FROM batches WHERE (state IN ({_marks(open_states)})"
                          f"{only_clause}){latest} ORDER BY id", *params)
        return [BatchRecord.from_row(row) for row in rows]

    def institutions_seen(self) -> set[str]:
        """Every institution that ever had an upload or a finished batch (configured or
        not): read from the counters, so it costs the institutions, not the history."""
        rows = self._rows("SELECT DISTINCT institution FROM metric_counters"
                          " WHERE family IN (?, ?)", Family.LAST_UPLOAD.value,
                          Family.BATCHES_FINISHED.value)
        return {str(row[0]) for row in rows}

    def latest_uploads(self, institutions: Sequence[str]) -> dict[str, tuple[str, float]]:
        """The latest upload of each of ``institutions`` (file name, arrival): one index
        lookup each, whatever the history."""
        if not institutions:
            return {}
        rows = self._rows(
            "SELECT institution, filename, received_at FROM uploads WHERE id IN"
            " (SELECT (SELECT u.id FROM uploads u WHERE u.institution = w.column1"
            " ORDER BY u.received_at DESC, u.id DESC LIMIT 1)"
            f" FROM (VALUES {', '.join('(?)' for _ in institutions)}) AS w)",
            *institutions)
        return {row[0]: (row[1], float(row[2])) for row in rows}


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)
