"""What ``gateway status`` shows: per institution, its queue, what is in flight and held."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from gateway.exports.runs import last_runs, run_summary
from gateway.ops.tables import emit, table
from gateway.settings import Settings
from gateway.state.backends import open_store
from gateway.state.leases import LeaseTable
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord, DiscardRecord, UploadRecord
from gateway.state.states import BatchState, UploadState

_WAITING = (BatchState.OPEN, BatchState.READY, BatchState.DEFERRED)
_IN_FLIGHT = (BatchState.SUBMITTING, BatchState.IMPORTING)
_SUCCESS = (BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES)
NOT_RECEIVED = 10
"""Dropped, unreceived files listed per institution (the latest)."""


def institution_status(settings: Settings,
                       configured: Sequence[str]) -> list[dict[str, Any]]:
    """One row per institution (configured or seen in the configured store), safe on a
    live store, with ``on_hold`` saying whether an operator holds its queue."""
    store = open_store(settings)
    try:
        rows = status_rows(store, configured)
        holds = store.institution_holds()
    finally:
        store.close()
    return [{**row, "on_hold": None if row["institution"] not in holds else {
        "reason": holds[row["institution"]].reason,
        "since": _iso(holds[row["institution"]].held_at)}} for row in rows]


def live_cluster_nodes(settings: Settings) -> list[str]:
    """The cluster's other nodes whose heartbeat is younger than the lease time, by name;
    none on one machine.  This node is left out: it is not running (that is why it asks),
    though a heartbeat it beat just before it died still looks live."""
    if not settings.cluster.enabled:
        return []
    store = open_store(settings)
    try:
        live = LeaseTable(store.database).live_nodes(settings.cluster.lease_seconds)
    finally:
        store.close()
    return [node for node in live if node != settings.cluster.node_name]


def status_rows(store: StateStore, configured: Sequence[str], *, only: str | None = None,
                public: bool = False) -> list[dict[str, Any]]:
    """The status rows from an open store (``only``: just that institution's row).

    For operators, batches are named by id and the oldest waiting upload by its id (what
    ``gateway show``/``reject`` take).  ``public`` rows (the institution's status.json)
    name batches by the institution's own numbers and no upload ids: nothing gateway-wide.
    Reads the unfinished batches and each institution's latest success and latest upload,
    never the whole history (the status page calls this every few seconds).
    """
    shown = [only] if only is not None else sorted(set(configured) | store.institutions_seen())
    batches = _current_batches(store, shown, only)
    uploads = store.uploads(institution=only, state=UploadState.RECEIVED)
    latest = _latest_uploads(store, shown)
    exports = last_runs(store, only)
    names = sorted(set(configured) | {b.institution for b in batches}
                   | {u.institution for u in uploads} | set(latest))
    rows = []
    for name in names:
        mine = [b for b in batches if b.institution == name]
        waiting = [u for u in uploads if u.institution == name]
        rows.append({**_row(name, mine, waiting, public),
                     "last_upload": latest.get(name),
                     "not_received": _not_received(store.discards(name, limit=NOT_RECEIVED)),
                     "exports": [run_summary(run) for (owner, _), run in sorted(exports.items())
                                 if owner == name]})
    return rows


def _current_batches(store: StateStore, shown: Sequence[str],
                     only: str | None) -> list[BatchRecord]:
    """The batches a status row shows: unfinished ones (``only``: of that institution) and
    the latest success of each shown institution, oldest first."""
    unfinished = (*_WAITING, *_IN_FLIGHT, BatchState.HELD, BatchState.FAILED)
    return store.current_batches(unfinished, _SUCCESS, shown, only)


def _latest_uploads(store: StateStore, shown: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each shown institution's latest received upload: its file name and when it arrived."""
    return {name: {"file": filename, "received_at": _iso(received_at)}
            for name, (filename, received_at) in store.latest_uploads(shown).items()}


def _not_received(discards: Sequence[DiscardRecord]) -> list[dict[str, Any]]:
    """The latest files the intake dropped without receiving them (newest first)."""
    return [{"file": d.filename, "folder": d.folder, "size": d.size,
             "at": _iso(d.discarded_at), "reason": d.reason} for d in discards]


def _row(name: str, mine: Sequence[BatchRecord], waiting: Sequence[UploadRecord],
         public: bool) -> dict[str, Any]:
    def handle(batch: BatchRecord) -> int:
        return (batch.number or batch.id) if public else batch.id

    done = [b for b in mine if b.state in _SUCCESS]
    last = max(done, key=lambda b: b.id) if done else None
    oldest = waiting[0] if waiting else None
    return {
        "institution": name,
        "uploads_waiting": len(waiting),
        "oldest_waiting": None if oldest is None else {
            **({} if public else {"upload": oldest.id}), "file": oldest.filename,
            "received_at": _iso(oldest.received_at)},
        "batches_queued": [handle(b) for b in mine if b.state in _WAITING],
        "in_flight": [{"batch": handle(b), "state": b.state.value,
                       "canvas_import": b.import_id} for b in mine if b.state in _IN_FLIGHT],
        "held": [{"batch": handle(b), "reason": b.reason} for b in mine
                 if b.state is BatchState.HELD],
        "failed": [{"batch": handle(b), "reason": b.reason} for b in mine
                   if b.state is BatchState.FAILED],
        "last_success": None if last is None else {
            "batch": handle(last), "canvas_import": last.import_id,
            "finished_at": _iso(last.finished_at)},
    }


def status_table(rows: Sequence[dict[str, Any]]) -> Table:
    """A human table of institution_status rows, one line per institution (long cells wrap
    inside their column): what waits, what is in flight, what is held or failed and why."""
    return table(["INSTITUTION", "WAITING", "OLDEST WAITING", "QUEUED", "IN FLIGHT",
                  "HELD / FAILED", "LAST SUCCESS"], [_cells(row) for row in rows],
                 right=["WAITING", "QUEUED"])


def print_status(rows: Sequence[dict[str, Any]]) -> None:
    """Print :func:`status_table` on stdout."""
    emit(status_table(rows))


def _cells(row: dict[str, Any]) -> list[object]:
    oldest = row["oldest_waiting"]
    waiting = f"upload {oldest['upload']} {oldest['file']} since {oldest['received_at']}" \
        if oldest else None
    flight = ", ".join(f"#{f['batch']} {f['state']}" for f in row["in_flight"])
    hold = row.get("on_hold")
    stopped = [f"queue held since {hold['since']}: {hold['reason']}"] if hold else []
    stopped += [f"#{s['batch']} held: {s['reason']}" for s in row["held"]]
    stopped += [f"#{s['batch']} failed: {s['reason']}" for s in row["failed"]]
    last = row["last_success"]
    success = f"#{last['batch']} (import {last['canvas_import']}) {last['finished_at']}" \
        if last else None
    return [row["institution"], row["uploads_waiting"], waiting, len(row["batches_queued"]),
            flight,
            "; ".join(stopped), success]


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, tz=UTC).isoformat(timespec="seconds")
