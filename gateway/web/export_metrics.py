"""Exports as Prometheus sees them: runs by state, and each export's last publish.

``gateway_export_runs{institution,export,state}`` counts runs (a rising ``failed`` count is
the alert); ``gateway_export_last_published_timestamp_seconds`` is 0 for an export that never
published, so "no provisioning file in 26 h" fires for a new export too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

from gateway.exports.runs import state_counts
from gateway.state.protocols import StateStore
from gateway.state.states import ExportRunState


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
        runs = GaugeMetricFamily("gateway_export_runs", "Export runs by state.",
                                 labels=["institution", "export", "state"])
        counts = state_counts(self._store)
        for institution, export in sorted(configured | {k[:2] for k in counts}):
            for state in ExportRunState:
                runs.add_metric([institution, export, state.value],
                                counts.get((institution, export, state.value), 0))
        yield runs
        last = GaugeMetricFamily("gateway_export_last_published_timestamp_seconds",
                                 "When each export last published a file (0: never).",
                                 labels=["institution", "export"])
        published = self._store.export_last_published()
        for key in sorted(configured | set(published)):
            last.add_metric(list(key), published.get(key, 0.0))
        yield last
