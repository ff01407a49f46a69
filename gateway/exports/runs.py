"""Export runs as records, and the reads the exporter, the CLI and the status page make.

The rows are written only by the store's transactions (``Transaction.add_export_run``, and
``move``/``update`` on the ``export_run`` entity, compare-and-set like every state).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.state.states import ExportRunState
from gateway.state.store import Store

ACTIVE_STATES = (ExportRunState.SCHEDULED, ExportRunState.STARTING, ExportRunState.STARTED,
                 ExportRunState.DOWNLOADED)


@dataclass(frozen=True)
class ExportRun:
    """One run of one export: a slot (schedule time, import, request) and where it is."""

    id: int
    institution: str
    export: str
    report: str
    slot: str
    trigger: str
    state: ExportRunState
    parameters: dict[str, str]
    created_at: float
    updated_at: float
    next_attempt_at: float
    attempts: int
    trouble_since: float | None
    starting_at: float | None
    report_id: int | None
    canvas_state: str | None
    file_name: str | None
    size: int | None
    sha256: str | None
    published_at: float | None
    reason: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ExportRun:
        """Build from a ``SELECT * FROM export_runs`` row."""
        fields = {key: row[key] for key in row.keys()}  # noqa: SIM118 (sqlite3.Row)
        fields["state"] = ExportRunState(fields["state"])
        fields["parameters"] = json.loads(fields["parameters"])
        return cls(**fields)


def export_run(store: Store, run_id: int) -> ExportRun:
    """One run; raises KeyError when there is none."""
    rows = store.read("SELECT * FROM export_runs WHERE id = ?", run_id)
    if not rows:
        raise KeyError(f"no export run {run_id}")
    return ExportRun.from_row(rows[0])


def due_runs(store: Store, now: float) -> list[ExportRun]:
    """Runs not yet ended whose next step is due, oldest first."""
    marks = ", ".join("?" for _ in ACTIVE_STATES)
    rows = store.read(f"SELECT * FROM export_runs WHERE state IN ({marks})"  # noqa: S608
                      " AND next_attempt_at <= ? ORDER BY id", *ACTIVE_STATES, now)
    return [ExportRun.from_row(row) for row in rows]


def runs_of(store: Store, institution: str | None = None, export: str | None = None,
            limit: int = 100) -> list[ExportRun]:
    """Runs (of an institution, of one export), newest first."""
    rows = store.read(
        "SELECT * FROM export_runs WHERE (? IS NULL OR institution = ?)"
        " AND (? IS NULL OR export = ?) ORDER BY id DESC LIMIT ?",
        institution, institution, export, export, limit)
    return [ExportRun.from_row(row) for row in rows]


def last_requested(store: Store, institution: str, export: str) -> ExportRun | None:
    """The newest run of the export a request file asked for (None if never requested).
    Read inside a transaction, it cannot change before that transaction ends."""
    rows = store.read("SELECT * FROM export_runs WHERE institution = ? AND export = ?"
                      " AND trigger = 'request' ORDER BY id DESC LIMIT 1", institution, export)
    return ExportRun.from_row(rows[0]) if rows else None


def last_runs(store: Store, institution: str | None = None) -> dict[tuple[str, str], ExportRun]:
    """The newest run of each export, by (institution, export)."""
    rows = store.read(
        "SELECT * FROM export_runs WHERE id IN (SELECT MAX(id) FROM export_runs"
        " WHERE ? IS NULL OR institution = ? GROUP BY institution, export)",
        institution, institution)
    return {(run.institution, run.export): run for run in map(ExportRun.from_row, rows)}


def claimed_report_ids(store: Store, institution: str, report: str) -> set[int]:
    """Canvas report ids some run of the institution already owns (never adopted twice)."""
    rows = store.read("SELECT report_id FROM export_runs WHERE institution = ? AND report = ?"
                      " AND report_id IS NOT NULL", institution, report)
    return {int(row[0]) for row in rows}


def holding_run_ids(store: Store) -> set[int]:
    """Runs whose downloaded file in the spool may still be published (STARTED: one being
    downloaded; DOWNLOADED: one waiting to be published)."""
    rows = store.read("SELECT id FROM export_runs WHERE state IN (?, ?)",
                      ExportRunState.STARTED, ExportRunState.DOWNLOADED)
    return {int(row[0]) for row in rows}


def file_names(store: Store, institution: str, export: str) -> set[str]:
    """The outbox names the export's runs were given (each run's file keeps its own)."""
    rows = store.read("SELECT file_name FROM export_runs WHERE institution = ? AND export = ?"
                      " AND file_name IS NOT NULL", institution, export)
    return {str(row[0]) for row in rows}


def state_counts(store: Store) -> dict[tuple[str, str, str], int]:
    """Runs per (institution, export, state), for metrics."""
    rows = store.read("SELECT institution, export, state, COUNT(*) FROM export_runs"
                      " GROUP BY institution, export, state")
    return {(row[0], row[1], row[2]): int(row[3]) for row in rows}


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
