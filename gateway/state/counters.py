"""Metric counters kept in the transactions that change what they count.

One row per (family, institution, export, label) in ``metric_counters``, written by an upsert
(``INSERT ... ON CONFLICT ... DO UPDATE``, the same SQL on both adapters) in the very
transaction that receives an upload or moves a batch or an export run.  So the counters are
exact on either backend and with several nodes (a rolled-back change counts nothing, and
PostgreSQL's upsert locks the row it adds to), they never decrease (nothing purges them:
history may go, its counts stay), and a scrape reads this table, whose size follows
institutions x families x buckets, never the length of the history.

Two kinds of row: counts, which only add (:meth:`Counting.add`), and timestamps kept as a
running maximum (:meth:`Counting.raise_to`).  A histogram is one count per bucket, each
observation counted in the lowest bucket it fits (``+Inf`` above the last bound), plus a
``sum`` row: the scrape makes the buckets cumulative, as Prometheus wants them.

The schema step that made the table filled it once from the history then present (see
``gateway.state.schema``); a node of a version before it does not count (it does not know the
table), so changes it makes during a rolling upgrade are missing from the counters.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from gateway.state.database import Session
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, ExportRunState


class Family(StrEnum):
    """What a counter row counts; its ``label`` (and ``export``) as each one says."""

    UPLOADS = "uploads"  # uploads received
    UPLOAD_BYTES = "upload_bytes"  # their bytes
    LAST_UPLOAD = "last_upload"  # the latest upload's arrival (a maximum)
    BATCHES_FINISHED = "batches_finished"  # batches that reached a finished state (label)
    IMPORTS = "imports"  # imports that ended, by outcome (label)
    LAST_SUCCESS = "last_success"  # the latest successful import's end (a maximum)
    UPLOAD_TO_POST = "upload_to_post"  # histogram: bucket bound or ``sum`` (label)
    POST_TO_FINISH = "post_to_finish"  # histogram: bucket bound or ``sum`` (label)
    EXPORT_RUNS_ENDED = "export_runs_ended"  # export runs that ended, by export and state
    EXPORT_LAST_PUBLISHED = "export_last_published"  # by export (a maximum)


IMPORT_OUTCOMES = (BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES, BatchState.FAILED)
"""Ends of a Canvas import, counted each time an import reaches one."""

SUCCESSES = frozenset({BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES})

EXPORT_RUN_ENDS = (ExportRunState.PUBLISHED, ExportRunState.FAILED)
"""Final states of an export run, counted as runs reach them."""

UPLOAD_TO_POST_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                          7200.0, 21600.0, 86400.0)
"""From the first upload of a batch being received to its POST: quiet time plus queueing."""

POST_TO_FINISH_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                          7200.0, 14400.0)
"""From the POST to Canvas's final state: Canvas's own processing time."""

SUM_LABEL = "sum"
"""The label of a histogram's row that adds up the observed seconds."""

_ADD = ("INSERT INTO metric_counters (family, institution, export, label, value)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (family, institution, export, label)"
        " DO UPDATE SET value = metric_counters.value + excluded.value")
_RAISE = ("INSERT INTO metric_counters (family, institution, export, label, value)"
          " VALUES (?, ?, ?, ?, ?) ON CONFLICT (family, institution, export, label)"
          " DO UPDATE SET value = excluded.value WHERE excluded.value > metric_counters.value")


def bucket_label(bounds: Sequence[float], seconds: float) -> str:
    """The label of the lowest bucket of ``bounds`` (ascending) that holds ``seconds``:
    the bound as Prometheus clients write it (``5.0``), or ``+Inf`` above the last."""
    index = bisect.bisect_left(bounds, seconds)
    return repr(float(bounds[index])) if index < len(bounds) else "+Inf"


class Counting:
    """The counter writes of one transaction (``session``, at time ``now``)."""

    def __init__(self, session: Session, now: float) -> None:
        self._db = session
        self._now = now

    def add(self, family: Family, institution: str, amount: float, *, export: str = "",
            label: str = "") -> None:
        """Add ``amount`` to a counter (created at ``amount``)."""
        self._db.execute(_ADD, (family, institution, export, label, float(amount)))

    def raise_to(self, family: Family, institution: str, value: float, *,
                 export: str = "") -> None:
        """Keep the larger of the stored value and ``value`` (a latest-time mark)."""
        self._db.execute(_RAISE, (family, institution, export, "", float(value)))

    def observe(self, family: Family, bounds: Sequence[float], institution: str,
                seconds: float) -> None:
        """Count one histogram observation (negative durations, clock skew, as 0)."""
        seconds = max(0.0, seconds)
        self.add(family, institution, 1, label=bucket_label(bounds, seconds))
        self.add(family, institution, seconds, label=SUM_LABEL)

    def upload_received(self, institution: str, size: int) -> None:
        """Count an upload just recorded."""
        self.add(Family.UPLOADS, institution, 1)
        self.add(Family.UPLOAD_BYTES, institution, size)
        self.raise_to(Family.LAST_UPLOAD, institution, self._now)

    def moved(self, entity: str, record_id: int, new: Any, fields: Mapping[str, Any]) -> None:
        """Count what a state move just made (``fields``: those it wrote)."""
        if entity == "batch":
            self._batch_moved(record_id, BatchState(new), fields)
        elif entity == "export_run" and new in EXPORT_RUN_ENDS:
            self._export_run_ended(record_id, ExportRunState(new), fields)

    def _batch_moved(self, batch_id: int, new: BatchState, fields: Mapping[str, Any]) -> None:
        posted = fields.get("posted_at") is not None
        if not posted and new not in FINISHED_BATCH_STATES and new not in IMPORT_OUTCOMES:
            return  # most moves count nothing: no read
        row = self._db.execute("SELECT institution, posted_at, finished_at FROM batches"
                               " WHERE id = ?", (batch_id,)).fetchone()
        institution, posted_at, finished_at = str(row[0]), row[1], row[2]
        if new in FINISHED_BATCH_STATES:
            self.add(Family.BATCHES_FINISHED, institution, 1, label=new)
        if posted:
            self._observe_wait(batch_id, institution, float(posted_at))
        if new not in IMPORT_OUTCOMES:
            return
        self.add(Family.IMPORTS, institution, 1, label=new)
        ended = float(finished_at) if finished_at is not None else self._now
        if new in SUCCESSES:
            self.raise_to(Family.LAST_SUCCESS, institution, ended)
        if "finished_at" in fields and posted_at is not None and ended >= posted_at:
            self.observe(Family.POST_TO_FINISH, POST_TO_FINISH_BUCKETS, institution,
                         ended - float(posted_at))

    def _observe_wait(self, batch_id: int, institution: str, posted_at: float) -> None:
        """Upload to POST: from the batch's first upload's arrival (``uploads_by_batch``)."""
        first = self._db.execute("SELECT MIN(received_at) FROM uploads WHERE batch_id = ?",
                                 (batch_id,)).fetchone()
        if first is not None and first[0] is not None:
            self.observe(Family.UPLOAD_TO_POST, UPLOAD_TO_POST_BUCKETS, institution,
                         posted_at - float(first[0]))

    def _export_run_ended(self, run_id: int, new: ExportRunState,
                          fields: Mapping[str, Any]) -> None:
        row = self._db.execute("SELECT institution, export FROM export_runs WHERE id = ?",
                               (run_id,)).fetchone()
        institution, export = str(row[0]), str(row[1])
        self.add(Family.EXPORT_RUNS_ENDED, institution, 1, export=export, label=new)
        if new is ExportRunState.PUBLISHED:
            published = fields.get("published_at")
            self.raise_to(Family.EXPORT_LAST_PUBLISHED, institution,
                          float(published) if published is not None else self._now,
                          export=export)
