"""Export runs as records, and the reads the exporter, the CLI and the status page make.

The rows are written only by the store's transactions (``StoreTransaction.add_export_run``, and
``move``/``update`` on the ``export_run`` entity, compare-and-set like every state).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.state.protocols import StateStore
from gateway.state.records import ExportRun
from gateway.state.states import ExportRunState

__all__ = ["ExportRun", "claimed_report_ids", "due_runs", "export_run", "file_names",
           "holding_run_ids", "iso_utc", "last_requested", "last_runs", "last_started",
           "run_summary", "runs_of"]


def export_run(store: StateStore, run_id: int) -> ExportRun:
    """One run; raises KeyError when there is none."""
    return store.export_run(run_id)


def due_runs(store: StateStore, now: float) -> list[ExportRun]:
    """Runs not yet ended whose next step is due, oldest first."""
    return store.due_export_runs(now)


def runs_of(store: StateStore, institution: str | None = None, export: str | None = None,
            limit: int = 100) -> list[ExportRun]:
    """Runs (of an institution, of one export), newest first."""
    return store.export_runs(institution, export, limit)


def last_requested(store: StateStore, institution: str, export: str) -> ExportRun | None:
    """The newest run of the export a request file asked for (None if never requested)."""
    return store.last_triggered_run(institution, export, "request")


def last_started(store: StateStore, institution: str, export: str) -> ExportRun | None:
    """The newest run of the export queued at a gateway's start (None if never)."""
    return store.last_triggered_run(institution, export, "start")


def last_runs(store: StateStore,
              institution: str | None = None) -> dict[tuple[str, str], ExportRun]:
    """The newest run of each export, by (institution, export)."""
    return {(run.institution, run.export): run for run in store.last_export_runs(institution)}


def claimed_report_ids(store: StateStore, institution: str, report: str) -> set[int]:
    """Canvas report ids some run of the institution already owns (never adopted twice)."""
    return store.claimed_report_ids(institution, report)


def holding_run_ids(store: StateStore) -> set[int]:
    """Runs whose downloaded file in the spool may still be published (STARTED: one being
    downloaded; DOWNLOADED: one waiting to be published)."""
    return store.export_run_ids((ExportRunState.STARTED, ExportRunState.DOWNLOADED))


def file_names(store: StateStore, institution: str, export: str) -> set[str]:
    """The outbox names the export's runs were given (each run's file keeps its own)."""
    return store.export_file_names(institution, export)


def run_summary(run: ExportRun) -> dict[str, Any]:
    """A run as status.json, the status page and ``gateway exports`` show it."""
    published = run.state is ExportRunState.PUBLISHED
    return {
        "export": run.export, "report": run.report, "state": run.state.value,
        "trigger": run.trigger, "slot": run.slot, "queued_at": iso_utc(run.created_at),
        "canvas_report": run.report_id,
        "file": f"/outbox/{run.export}/{run.file_name}" if published else None,
        "size": run.size if published else None,
        "published_at": iso_utc(run.published_at),
        "reason": run.reason if run.state is ExportRunState.FAILED else None,
    }


def iso_utc(at: float | None) -> str | None:
    """A Unix time as ISO 8601 in UTC, to the second (None stays None)."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="seconds")
