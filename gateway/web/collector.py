"""The store as Prometheus sees it: a collector that runs a few aggregate queries per scrape.

Each query is a single GROUP BY over an indexed table (or the posted batches, a few thousand
rows a year), so a scrape costs milliseconds and reads a consistent WAL snapshot per query.
Configured institutions always have their per-institution gauges (zero when idle), so an
alert on "queue depth > 0 for 1h" sees every institution from the start; likewise the
``_timestamp_seconds`` gauges are 0 for an institution that never had an upload or an
import, so "no import in 24 h" (``time() - gateway_last_success_timestamp_seconds > 86400``)
fires for one that never imported too.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from gateway.state.diskspace import disk_space
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, NoticeState, UploadState
from gateway.state.store import Store

IMPORT_OUTCOMES = (BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES, BatchState.FAILED)
"""Ends of a Canvas import, counted each time an import reaches one."""

UPLOAD_TO_POST_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                          7200.0, 21600.0, 86400.0)
"""From the first upload of a batch being received to its POST: quiet time plus queueing."""

POST_TO_FINISH_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                          7200.0, 14400.0)
"""From the POST to Canvas's final state: Canvas's own processing time."""

_SUCCESS = (BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES)
_UNFINISHED = tuple(state for state in BatchState if state not in FINISHED_BATCH_STATES)


class StoreCollector:
    """Collects gateway metrics from ``store`` (and the data volume) at each scrape."""

    def __init__(self, store: Store, institutions: Callable[[], Sequence[str]],
                 data_dir: Path, floor_bytes: int) -> None:
        self._store = store
        self._institutions = institutions
        self._data_dir = data_dir
        self._floor_bytes = floor_bytes

    def collect(self) -> Iterable[Metric]:
        """Yield every family; called by the registry on each scrape (in the HTTP thread)."""
        now = self._store.clock()
        configured = list(self._institutions())
        yield from self._uploads(configured)
        yield from self._batches(configured, now)
        yield self._imports()
        yield self._last_success(configured)
        yield _histogram("gateway_upload_to_post_seconds",
                         "Seconds from a batch's first upload being received to its POST.",
                         UPLOAD_TO_POST_BUCKETS, self._store.read(
                             "SELECT b.institution, b.posted_at - MIN(u.received_at) AS seconds"
                             " FROM batches b JOIN uploads u ON u.batch_id = b.id"
                             " WHERE b.posted_at IS NOT NULL GROUP BY b.id"))
        yield _histogram("gateway_post_to_finish_seconds",
                         "Seconds from a batch's POST to Canvas's final import state.",
                         POST_TO_FINISH_BUCKETS, self._store.read(
                             "SELECT institution, finished_at - posted_at AS seconds"
                             " FROM batches WHERE posted_at IS NOT NULL"
                             " AND finished_at >= posted_at"))
        yield self._outbox()
        yield from self._disk()

    def _uploads(self, configured: list[str]) -> Iterable[Metric]:
        rows = self._store.read(
            "SELECT institution, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes,"
            " SUM(state = ?) AS waiting, MAX(received_at) AS last FROM uploads"
            " GROUP BY institution",
            UploadState.RECEIVED)
        found = {row["institution"]: row for row in rows}
        uploads = CounterMetricFamily("gateway_uploads", "Uploads received.",
                                      labels=["institution"])
        volume = CounterMetricFamily("gateway_upload_bytes", "Bytes of uploads received.",
                                     labels=["institution"])
        waiting = GaugeMetricFamily("gateway_uploads_waiting",
                                    "Uploads received and not yet in a batch.",
                                    labels=["institution"])
        last = GaugeMetricFamily("gateway_last_upload_timestamp_seconds",
                                 "When the institution's latest upload was received (Unix "
                                 "time); 0 if never.", labels=["institution"])
        for name in sorted(set(configured) | set(found)):
            row = found.get(name)
            uploads.add_metric([name], row["n"] if row else 0)
            volume.add_metric([name], row["bytes"] if row else 0)
            waiting.add_metric([name], row["waiting"] if row else 0)
            last.add_metric([name], row["last"] if row else 0)
        return uploads, volume, waiting, last

    def _batches(self, configured: list[str], now: float) -> Iterable[Metric]:
        by_state = GaugeMetricFamily("gateway_batches", "Batches by institution and state.",
                                     labels=["institution", "state"])
        depth = GaugeMetricFamily("gateway_queue_depth",
                                  "Batches not finished (queued, in flight, held or failed).",
                                  labels=["institution"])
        age = GaugeMetricFamily("gateway_queue_oldest_age_seconds",
                                "Age of the oldest unfinished work (upload or batch); 0 if none.",
                                labels=["institution"])
        held = GaugeMetricFamily("gateway_institution_held",
                                 "1 while an operator holds the institution's queue.",
                                 labels=["institution"])
        counts: dict[str, int] = defaultdict(int)
        oldest = self._oldest_waiting_uploads()
        for row in self._store.read("SELECT institution, state, COUNT(*) AS n,"
                                    " MIN(created_at) AS oldest FROM batches"
                                    " GROUP BY institution, state"):
            name = row["institution"]
            by_state.add_metric([name, row["state"]], row["n"])
            if row["state"] in _UNFINISHED:
                counts[name] += row["n"]
                oldest[name] = min(oldest.get(name, row["oldest"]), row["oldest"])
        holds = self._store.institution_holds()
        for name in sorted(set(configured) | set(counts) | set(oldest)):
            depth.add_metric([name], counts[name])
            age.add_metric([name], max(0.0, now - oldest[name]) if name in oldest else 0.0)
            held.add_metric([name], 1 if name in holds else 0)
        return by_state, depth, age, held

    def _oldest_waiting_uploads(self) -> dict[str, float]:
        rows = self._store.read("SELECT institution, MIN(received_at) AS oldest FROM uploads"
                                " WHERE state = ? GROUP BY institution", UploadState.RECEIVED)
        return {row["institution"]: row["oldest"] for row in rows}

    def _imports(self) -> Metric:
        family = CounterMetricFamily("gateway_imports", "Canvas imports that ended, by outcome.",
                                     labels=["institution", "outcome"])
        rows = self._store.read(
            "SELECT b.institution, t.to_state AS outcome, COUNT(*) AS n FROM transitions t"
            " JOIN batches b ON b.id = t.entity_id WHERE t.entity = 'batch'"
            " AND t.to_state IN (?, ?, ?) GROUP BY b.institution, t.to_state",
            *IMPORT_OUTCOMES)
        for row in rows:
            family.add_metric([row["institution"], row["outcome"]], row["n"])
        return family

    def _last_success(self, configured: list[str]) -> Metric:
        family = GaugeMetricFamily("gateway_last_success_timestamp_seconds",
                                   "When the institution's latest successful Canvas import "
                                   "finished (Unix time); 0 if never.", labels=["institution"])
        rows = self._store.read("SELECT institution, MAX(finished_at) AS last FROM batches"
                                " WHERE state IN (?, ?) GROUP BY institution", *_SUCCESS)
        found = {row["institution"]: row["last"] or 0 for row in rows}
        for name in sorted(set(configured) | set(found)):
            family.add_metric([name], found.get(name, 0))
        return family

    def _outbox(self) -> Metric:
        family = GaugeMetricFamily("gateway_outbox_depth",
                                   "Notices (reports, alerts) not sent: pending or failed.",
                                   labels=["state"])
        rows = self._store.read("SELECT state, COUNT(*) AS n FROM notices WHERE state != ?"
                                " GROUP BY state", NoticeState.SENT)
        found = {row["state"]: row["n"] for row in rows}
        for state in (NoticeState.PENDING, NoticeState.FAILED):
            family.add_metric([state.value], found.get(state.value, 0))
        return family

    def _disk(self) -> Iterable[Metric]:
        space = disk_space(self._data_dir, self._floor_bytes)
        yield GaugeMetricFamily("gateway_disk_free_bytes", "Free bytes on the data volume.",
                                value=space.free_bytes)
        yield GaugeMetricFamily("gateway_disk_floor_bytes",
                                "Free space below which new uploads are refused.",
                                value=space.floor_bytes)


def _histogram(name: str, documentation: str, bounds: Sequence[float],
               rows: Iterable[sqlite3.Row]) -> Metric:
    """A per-institution histogram of the ``seconds`` column of (institution, seconds) rows."""
    observed: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        observed[row[0]].append(max(0.0, float(row["seconds"])))
    family = HistogramMetricFamily(name, documentation, labels=["institution"])
    for institution, values in sorted(observed.items()):
        values.sort()
        buckets = [(_bound(bound), float(bisect.bisect_right(values, bound)))
                   for bound in bounds]
        buckets.append(("+Inf", float(len(values))))
        family.add_metric([institution], buckets, sum_value=sum(values))
    return family


def _bound(value: float) -> str:
    """A bucket bound as Prometheus clients write it (``5.0``, ``86400.0``)."""
    return repr(float(value))
