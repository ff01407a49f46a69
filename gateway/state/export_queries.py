"""Named reads of export runs, for the exporter, the CLI, metrics and the status page.

The rows are written only by the store's transactions (``Transaction.add_export_run``, and
``move``/``update`` on the ``export_run`` entity, compare-and-set like every state).
"""

from __future__ import annotations

from typing import Any

from gateway.state.database import Row
from gateway.state.records import ExportRun
from gateway.state.states import ExportRunState

ACTIVE_STATES = (ExportRunState.SCHEDULED, ExportRunState.STARTING, ExportRunState.STARTED,
                 ExportRunState.DOWNLOADED)


class ExportRunQueries:
    """The export run reads; mixed into ``Store``, which supplies ``_rows`` and ``_hint``."""

    def _rows(self, sql: str, *params: Any) -> list[Row]:
        raise NotImplementedError

    def _hint(self, index: str) -> str:
        raise NotImplementedError

    def export_run(self, run_id: int) -> ExportRun:
        """One run; raises KeyError when there is none."""
        rows = self._rows("SELECT * FROM export_runs WHERE id = ?", run_id)
        if not rows:
            raise KeyError(f"no export run {run_id}")
        return ExportRun.from_row(rows[0])

    def due_export_runs(self, now: float) -> list[ExportRun]:
        """Runs not yet ended whose next step is due, oldest first."""
        marks = ", ".join("?" for _ in ACTIVE_STATES)
        rows = self._rows(f"SELECT * FROM export_runs WHERE state IN ({marks})"
                          " AND next_attempt_at <= ? ORDER BY id", *ACTIVE_STATES, now)
        return [ExportRun.from_row(row) for row in rows]

    def export_runs(self, institution: str | None = None, export: str | None = None,
                    limit: int = 100) -> list[ExportRun]:
        """Runs (of an institution, of one export), newest first."""
        clauses, params = _where(institution=institution, export=export)
        rows = self._rows(f"SELECT * FROM export_runs{clauses} ORDER BY id DESC LIMIT ?",
                          *params, limit)
        return [ExportRun.from_row(row) for row in rows]

    def last_triggered_run(self, institution: str, export: str,
                           trigger: str) -> ExportRun | None:
        """The newest run of the export queued by ``trigger`` (None if never)."""
        rows = self._rows("SELECT * FROM export_runs WHERE institution = ? AND export = ?"
                          " AND trigger = ? ORDER BY id DESC LIMIT 1",
                          institution, export, trigger)
        return ExportRun.from_row(rows[0]) if rows else None

    def last_export_runs(self, institution: str | None = None) -> list[ExportRun]:
        """The newest run of each export (of ``institution``, if given)."""
        clauses, params = _where(institution=institution)
        rows = self._rows("SELECT * FROM export_runs WHERE id IN (SELECT MAX(id) FROM"
                          f" export_runs{clauses} GROUP BY institution, export)", *params)
        return [ExportRun.from_row(row) for row in rows]

    def claimed_report_ids(self, institution: str, report: str) -> set[int]:
        """Canvas report ids some run of the institution already owns."""
        rows = self._rows("SELECT report_id FROM export_runs WHERE institution = ?"
                          " AND report = ? AND report_id IS NOT NULL", institution, report)
        return {int(row[0]) for row in rows}

    def export_run_ids(self, states: tuple[ExportRunState, ...]) -> set[int]:
        """Ids of the runs in ``states``."""
        marks = ", ".join("?" for _ in states)
        rows = self._rows(f"SELECT id FROM export_runs WHERE state IN ({marks})", *states)
        return {int(row[0]) for row in rows}

    def export_file_names(self, institution: str, export: str) -> set[str]:
        """The outbox names the export's runs were given."""
        rows = self._rows("SELECT file_name FROM export_runs WHERE institution = ?"
                          " AND export = ? AND file_name IS NOT NULL", institution, export)
        return {str(row[0]) for row in rows}

    def active_export_run_counts(self) -> dict[tuple[str, str, str], int]:
        """Runs not yet ended per (institution, export, state), for metrics: read through
        the ``export_runs_by_state`` index, so the ended runs (the history) are not visited;
        those are counted by the metric counters."""
        marks = ", ".join("?" for _ in ACTIVE_STATES)
        rows = self._rows(f"SELECT institution, export, state, COUNT(*) FROM export_runs"
                          f"{self._hint('export_runs_by_state')} WHERE state IN ({marks})"
                          " GROUP BY institution, export, state", *ACTIVE_STATES)
        return {(row[0], row[1], row[2]): int(row[3]) for row in rows}


def _where(**filters: str | None) -> tuple[str, list[Any]]:
    used = {column: value for column, value in filters.items() if value is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{column} = ?" for column in used), list(used.values())
