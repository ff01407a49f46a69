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
from gateway.state.protocols import StatusViews
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, NoticeState
from gateway.state.status_views import Latency

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

    def __init__(self, store: StatusViews, institutions: Callable[[], Sequence[str]],
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
                         UPLOAD_TO_POST_BUCKETS, self._store.upload_to_post_latencies())
        yield _histogram("gateway_post_to_finish_seconds",
                         "Seconds from a batch's POST to Canvas's final import state.",
                         POST_TO_FINISH_BUCKETS, self._store.post_to_finish_latencies())
        yield self._outbox()
        yield from self._disk()

    def _uploads(self, configured: list[str]) -> Iterable[Metric]:
        found = {row.institution: row for row in self._store.upload_totals()}
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
            uploads.add_metric([name], row.uploads if row else 0)
            volume.add_metric([name], row.bytes if row else 0)
            waiting.add_metric([name], row.waiting if row else 0)
            last.add_metric([name], row.last_received_at if row else 0)
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
        oldest = self._store.oldest_waiting_uploads()
        for row in self._store.batch_counts():
            name = row.institution
            by_state.add_metric([name, row.state], row.batches)
            if row.state in _UNFINISHED:
                counts[name] += row.batches
                oldest[name] = min(oldest.get(name, row.oldest_created_at),
                                   row.oldest_created_at)
        holds = self._store.institution_holds()
        for name in sorted(set(configured) | set(counts) | set(oldest)):
            depth.add_metric([name], counts[name])
            age.add_metric([name], max(0.0, now - oldest[name]) if name in oldest else 0.0)
            held.add_metric([name], 1 if name in holds else 0)
        return by_state, depth, age, held

    def _imports(self) -> Metric:
        family = CounterMetricFamily("gateway_imports", "Canvas imports that ended, by outcome.",
                                     labels=["institution", "outcome"])
        for (institution, outcome), count in self._store.import_outcomes(IMPORT_OUTCOMES).items():
            family.add_metric([institution, outcome], count)
        return family

    def _last_success(self, configured: list[str]) -> Metric:
        family = GaugeMetricFamily("gateway_last_success_timestamp_seconds",
                                   "When the institution's latest successful Canvas import "
                                   "finished (Unix time); 0 if never.", labels=["institution"])
        found = self._store.last_finished(_SUCCESS)
        for name in sorted(set(configured) | set(found)):
            family.add_metric([name], found.get(name, 0))
        return family

    def _outbox(self) -> Metric:
        family = GaugeMetricFamily("gateway_outbox_depth",
                                   "Notices (reports, alerts) not sent: pending or failed.",
                                   labels=["state"])
        found = self._store.outbox_depth()
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
               rows: Iterable[Latency]) -> Metric:
    """A per-institution histogram of the ``seconds`` column of (institution, seconds) rows."""
    observed: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        observed[row.institution].append(max(0.0, row.seconds))
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
