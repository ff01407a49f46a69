"""The store as Prometheus sees it: a collector that reads a few small tables per scrape.

What a scrape costs follows the number of institutions and the live work, never the length
of the history.  The counts of what ever happened (uploads and their bytes, imports by
outcome, batches that finished, the two latency histograms, the last upload and the last
success) are metric counters kept in the transactions that changed them
(``gateway.state.counters``): exact on either backend and across nodes, and never lower
after history is purged.  The gauges of current work (queue depth and age, batches in
unfinished states, uploads waiting, the outbox, holds) read only unfinished rows, through
an index.
Configured institutions always have their per-institution gauges (zero when idle), so an
alert on "queue depth > 0 for 1h" sees every institution from the start; likewise the
``_timestamp_seconds`` gauges are 0 for an institution that never had an upload or an
import, so "no import in 24 h" (``time() - gateway_last_success_timestamp_seconds > 86400``)
fires for one that never imported too.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from gateway.state.counters import (
    POST_TO_FINISH_BUCKETS,
    SUM_LABEL,
    UPLOAD_TO_POST_BUCKETS,
    Family,
)
from gateway.state.diskspace import disk_space
from gateway.state.protocols import StatusViews
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, NoticeState
from gateway.state.status_views import CounterValue

_UNFINISHED = tuple(state for state in BatchState if state not in FINISHED_BATCH_STATES)
_FAMILIES = (Family.UPLOADS, Family.UPLOAD_BYTES, Family.LAST_UPLOAD, Family.BATCHES_FINISHED,
             Family.IMPORTS, Family.LAST_SUCCESS, Family.UPLOAD_TO_POST, Family.POST_TO_FINISH)
Counted = dict[str, list[CounterValue]]


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
        counted = by_family(self._store.counters(_FAMILIES))
        yield from self._uploads(configured, counted)
        yield from self._batches(configured, now, counted[Family.BATCHES_FINISHED])
        imports = CounterMetricFamily("gateway_imports", "Canvas imports that ended, by "
                                      "outcome.", labels=["institution", "outcome"])
        for row in counted[Family.IMPORTS]:
            imports.add_metric([row.institution, row.label], row.value)
        yield imports
        yield _per_institution(GaugeMetricFamily(
            "gateway_last_success_timestamp_seconds", "When the institution's latest "
            "successful Canvas import finished (Unix time); 0 if never.",
            labels=["institution"]), configured, counted[Family.LAST_SUCCESS])
        yield _histogram("gateway_upload_to_post_seconds",
                         "Seconds from a batch's first upload being received to its POST.",
                         UPLOAD_TO_POST_BUCKETS, counted[Family.UPLOAD_TO_POST])
        yield _histogram("gateway_post_to_finish_seconds",
                         "Seconds from a batch's POST to Canvas's final import state.",
                         POST_TO_FINISH_BUCKETS, counted[Family.POST_TO_FINISH])
        yield self._outbox()
        yield from self._disk()

    def _uploads(self, configured: list[str], counted: Counted) -> Iterable[Metric]:
        yield _per_institution(CounterMetricFamily(
            "gateway_uploads", "Uploads received.", labels=["institution"]),
            configured, counted[Family.UPLOADS])
        yield _per_institution(CounterMetricFamily(
            "gateway_upload_bytes", "Bytes of uploads received.", labels=["institution"]),
            configured, counted[Family.UPLOAD_BYTES])
        waiting = GaugeMetricFamily("gateway_uploads_waiting",
                                    "Uploads received and not yet in a batch.",
                                    labels=["institution"])
        found = self._store.waiting_uploads()
        for name in sorted(set(configured) | set(found)):
            waiting.add_metric([name], found.get(name, 0))
        yield waiting
        yield _per_institution(GaugeMetricFamily(
            "gateway_last_upload_timestamp_seconds", "When the institution's latest upload "
            "was received (Unix time); 0 if never.", labels=["institution"]),
            configured, counted[Family.LAST_UPLOAD])

    def _batches(self, configured: list[str], now: float,
                 finished: list[CounterValue]) -> Iterable[Metric]:
        by_state = GaugeMetricFamily(
            "gateway_batches", "Batches by institution and state (finished states: every "
            "batch that ever reached one, from the counters).", labels=["institution", "state"])
        depth = GaugeMetricFamily("gateway_queue_depth",
                                  "Batches not finished (queued, in flight, held or failed).",
                                  labels=["institution"])
        age = GaugeMetricFamily("gateway_queue_oldest_age_seconds",
                                "Age of the oldest unfinished work (upload or batch); 0 if none.",
                                labels=["institution"])
        held = GaugeMetricFamily("gateway_institution_held",
                                 "1 while an operator holds the institution's queue.",
                                 labels=["institution"])
        for row in finished:
            by_state.add_metric([row.institution, row.label], row.value)
        counts: dict[str, int] = defaultdict(int)
        oldest = self._store.oldest_waiting_uploads()
        for count in self._store.batch_counts(_UNFINISHED):
            name = count.institution
            by_state.add_metric([name, count.state], count.batches)
            counts[name] += count.batches
            oldest[name] = min(oldest.get(name, count.oldest_created_at),
                               count.oldest_created_at)
        holds = self._store.institution_holds()
        for name in sorted(set(configured) | set(counts) | set(oldest)):
            depth.add_metric([name], counts[name])
            age.add_metric([name], max(0.0, now - oldest[name]) if name in oldest else 0.0)
            held.add_metric([name], 1 if name in holds else 0)
        return by_state, depth, age, held

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


def by_family(rows: Iterable[CounterValue]) -> Counted:
    """Counter rows grouped by family (a family with no row: an empty list)."""
    grouped: Counted = defaultdict(list)
    for row in rows:
        grouped[row.family].append(row)
    return grouped


def _per_institution(family: GaugeMetricFamily | CounterMetricFamily, configured: list[str],
                     rows: list[CounterValue]) -> Metric:
    """``family`` with one sample per institution: the counter's value, 0 for a configured
    institution that has none yet."""
    found = {row.institution: row.value for row in rows}
    for name in sorted(set(configured) | set(found)):
        family.add_metric([name], found.get(name, 0.0))
    return family


def _histogram(name: str, documentation: str, bounds: Sequence[float],
               rows: Iterable[CounterValue]) -> Metric:
    """A per-institution histogram from its counter rows: a count per bucket (each
    observation in the lowest bucket it fits) made cumulative here, and the ``sum``.  A
    bucket stored under a bound no longer in ``bounds`` counts in every bound above it."""
    cells: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        cells[row.institution][row.label] = row.value
    family = HistogramMetricFamily(name, documentation, labels=["institution"])
    for institution, counts in sorted(cells.items()):
        total = counts.pop(SUM_LABEL, 0.0)
        observed = sorted((float(label), count) for label, count in counts.items())
        uppers = [upper for upper, _ in observed]
        running = list(itertools.accumulate(count for _, count in observed))
        buckets = [(_bound(bound), _through(uppers, running, bound)) for bound in bounds]
        buckets.append(("+Inf", running[-1] if running else 0.0))
        family.add_metric([institution], buckets, sum_value=total)
    return family


def _through(uppers: list[float], running: list[float], bound: float) -> float:
    """How many observations lie in buckets up to ``bound`` (``running``: cumulative counts
    of the buckets with upper bounds ``uppers``, ascending)."""
    index = bisect.bisect_right(uppers, bound)
    return running[index - 1] if index else 0.0


def _bound(value: float) -> str:
    """A bucket bound as Prometheus clients write it (``5.0``, ``86400.0``)."""
    return repr(float(value))
