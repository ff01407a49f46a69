"""Exports as Prometheus sees them: runs by state, and each export's last publish.

``gateway_export_runs{institution,export,state}`` counts runs: those under way (scheduled,
starting, started, downloaded) read through the ``export_runs_by_state`` index, those that
ended (published, failed) from the metric counters kept in the transactions that ended them,
so a scrape never reads the history and the ended counts never fall (a rising ``failed``
count is the alert).  ``gateway_export_last_published_timestamp_seconds`` is 0 for an export
that never published, so "no provisioning file in 26 h" fires for a new export too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

from gateway.state.counters import Family
from gateway.state.protocols import StateStore
from gateway.state.states import ExportRunState
from gateway.web.collector import by_family


class ExportCollector:
    """Collects the export metrics from ``store`` at each scrape; ``exports`` names the
    configured exports of each institution."""

    def __init__(self, store: StateStore,
                 exports: Callable[[], Mapping[str, tuple[str, ...]]]) -> None:
        self._store = store
        self._exports = exports

    def collect(self) -> Iterable[Metric]:
        """Yield the export families."""
        configured = {(name, export) for name, exports in self._exports().items()
                      for export in exports}
        counted = by_family(self._store.counters((Family.EXPORT_RUNS_ENDED,
                                                  Family.EXPORT_LAST_PUBLISHED)))
        counts = self._store.active_export_run_counts()
        counts.update({(row.institution, row.export, row.label): int(row.value)
                       for row in counted[Family.EXPORT_RUNS_ENDED]})
        runs = GaugeMetricFamily("gateway_export_runs", "Export runs by state.",
                                 labels=["institution", "export", "state"])
        for institution, export in sorted(configured | {k[:2] for k in counts}):
            for state in ExportRunState:
                runs.add_metric([institution, export, state.value],
                                counts.get((institution, export, state.value), 0))
        yield runs
        last = GaugeMetricFamily("gateway_export_last_published_timestamp_seconds",
                                 "When each export last published a file (0: never).",
                                 labels=["institution", "export"])
        published = {(row.institution, row.export): row.value
                     for row in counted[Family.EXPORT_LAST_PUBLISHED]}
        for key in sorted(configured | set(published)):
            last.add_metric(list(key), published.get(key, 0.0))
        yield last
