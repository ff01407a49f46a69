"""Named aggregate reads for metrics, the status page and ``gateway status``.

Each is one query over an indexed table, in SQL both adapters accept (``SUM(CASE ...)``, not
SQLite's sum of booleans), returning plain values: callers never see rows or SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from gateway.state.database import Row
from gateway.state.records import BatchRecord
from gateway.state.states import BatchState, NoticeState, UploadState


class UploadTotals(NamedTuple):
    """One institution's uploads ever received, and those waiting for a batch."""

    institution: str
    uploads: int
    bytes: int
    waiting: int
    last_received_at: float


class BatchCount(NamedTuple):
    """How many of an institution's batches are in one state, and the oldest one's age."""

    institution: str
    state: str
    batches: int
    oldest_created_at: float


class Latency(NamedTuple):
    """Seconds one batch spent between two moments (for a histogram)."""

    institution: str
    seconds: float


class SqlStatusViews:
    """The read models; mixed into ``Store``, which supplies ``_rows``."""

    def _rows(self, sql: str, *params: Any) -> list[Row]:
        raise NotImplementedError

    def upload_totals(self) -> list[UploadTotals]:
        """Per institution: uploads, bytes, uploads waiting, the latest arrival."""
        rows = self._rows(
            "SELECT institution, COUNT(*), COALESCE(SUM(size), 0),"
            " SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), MAX(received_at) FROM uploads"
            " GROUP BY institution", UploadState.RECEIVED)
        return [UploadTotals(row[0], int(row[1]), int(row[2]), int(row[3]), float(row[4]))
                for row in rows]

    def batch_counts(self) -> list[BatchCount]:
        """Batches per institution and state, with the oldest one's creation time."""
        rows = self._rows("SELECT institution, state, COUNT(*), MIN(created_at) FROM batches"
                          " GROUP BY institution, state")
        return [BatchCount(row[0], row[1], int(row[2]), float(row[3])) for row in rows]

    def oldest_waiting_uploads(self) -> dict[str, float]:
        """Per institution, when its oldest upload still waiting for a batch arrived."""
        rows = self._rows("SELECT institution, MIN(received_at) FROM uploads WHERE state = ?"
                          " GROUP BY institution", UploadState.RECEIVED)
        return {row[0]: float(row[1]) for row in rows}

    def import_outcomes(self, outcomes: Iterable[BatchState]) -> dict[tuple[str, str], int]:
        """How often imports reached each of ``outcomes``, by (institution, outcome)."""
        states = list(outcomes)
        marks = ", ".join("?" for _ in states)
        rows = self._rows(
            "SELECT b.institution, t.to_state, COUNT(*) FROM transitions t"
            " JOIN batches b ON b.id = t.entity_id WHERE t.entity = 'batch'"
            f" AND t.to_state IN ({marks}) GROUP BY b.institution, t.to_state", *states)
        return {(row[0], row[1]): int(row[2]) for row in rows}

    def last_finished(self, states: Iterable[BatchState]) -> dict[str, float]:
        """Per institution, when its latest batch in one of ``states`` finished."""
        wanted = list(states)
        marks = ", ".join("?" for _ in wanted)
        rows = self._rows("SELECT institution, MAX(finished_at) FROM batches"
                          f" WHERE state IN ({marks}) GROUP BY institution", *wanted)
        return {row[0]: float(row[1] or 0) for row in rows}

    def upload_to_post_latencies(self) -> list[Latency]:
        """Per posted batch: from its first upload's arrival to its POST."""
        rows = self._rows("SELECT b.institution, b.posted_at - MIN(u.received_at)"
                          " FROM batches b JOIN uploads u ON u.batch_id = b.id"
                          " WHERE b.posted_at IS NOT NULL GROUP BY b.id, b.institution,"
                          " b.posted_at")
        return [Latency(row[0], float(row[1])) for row in rows]

    def post_to_finish_latencies(self) -> list[Latency]:
        """Per finished import: from its POST to Canvas's final state."""
        rows = self._rows("SELECT institution, finished_at - posted_at FROM batches"
                          " WHERE posted_at IS NOT NULL AND finished_at >= posted_at")
        return [Latency(row[0], float(row[1])) for row in rows]

    def outbox_depth(self) -> dict[str, int]:
        """Notices not sent, by state."""
        rows = self._rows("SELECT state, COUNT(*) FROM notices WHERE state != ?"
                          " GROUP BY state", NoticeState.SENT)
        return {row[0]: int(row[1]) for row in rows}

    def recent_batches(self, limit: int) -> list[BatchRecord]:
        """The newest ``limit`` batches, newest first."""
        rows = self._rows("SELECT * FROM batches ORDER BY id DESC LIMIT ?", limit)
        return [BatchRecord.from_row(row) for row in rows]

    def current_batches(self, unfinished: Iterable[BatchState], successes: Iterable[BatchState],
                        institution: str | None = None) -> list[BatchRecord]:
        """Batches in ``unfinished`` states and each institution's latest batch in one of
        ``successes`` (only ``institution``'s, if given), oldest first."""
        open_states, done_states = list(unfinished), list(successes)
        params: list[Any] = [*open_states, *done_states]
        only = ""
        if institution is not None:
            only = " AND institution = ?"
            params.append(institution)
        rows = self._rows(
            f"SELECT * FROM batches WHERE (state IN ({_marks(open_states)}) OR id IN"
            f" (SELECT MAX(id) FROM batches WHERE state IN ({_marks(done_states)})"
            f" GROUP BY institution)){only} ORDER BY id", *params)
        return [BatchRecord.from_row(row) for row in rows]

    def latest_uploads(self, institution: str | None = None) -> dict[str, tuple[str, float]]:
        """Each institution's (or ``institution``'s) latest upload: file name, arrival."""
        params: list[Any] = []
        only = ""
        if institution is not None:
            only = " AND institution = ?"
            params.append(institution)
        rows = self._rows("SELECT institution, filename, received_at FROM uploads WHERE id IN"
                          f" (SELECT MAX(id) FROM uploads GROUP BY institution){only}", *params)
        return {row[0]: (row[1], float(row[2])) for row in rows}


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)
