"""The read-only status page: institutions, queues, holds, recent batches and their reports.

Plain HTML from jinja2 templates (autoescaped: file names and reasons come from senders),
no JavaScript; the overview refreshes itself every few seconds with a meta tag.  Every view
reads the store afresh, so the page shows what ``gateway status`` would print.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from gateway.quarantine import quarantined
from gateway.show import batch_details, batch_files, iso_time
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES
from gateway.state.store import Store
from gateway.status import status_rows
from gateway.web.health import Health

RECENT_BATCHES = 25
REFRESH_SECONDS = 10


class StatusPages:
    """Renders the overview (``/``) and one page per batch (``/batches/<id>``)."""

    def __init__(self, *, store: Store, spool: Spool,
                 institutions: Callable[[], Sequence[str]], health: Health) -> None:
        self._store = store
        self._spool = spool
        self._institutions = institutions
        self._health = health
        self._templates = Environment(
            loader=PackageLoader("gateway.web", "templates"),
            autoescape=select_autoescape(default=True), undefined=StrictUndefined,
            trim_blocks=True, lstrip_blocks=True)
        self._templates.filters["when"] = lambda stamp: iso_time(stamp) or "-"

    def overview(self) -> str:
        """The whole gateway on one page."""
        rows = status_rows(self._store, list(self._institutions()))
        holds = self._store.institution_holds()
        recent = [BatchRecord.from_row(row) for row in self._store.read(
            "SELECT * FROM batches ORDER BY id DESC LIMIT ?", RECENT_BATCHES)]
        return self._templates.get_template("overview.html").render(
            generated=_now(self._store), refresh=REFRESH_SECONDS, probes=self._health.ready(),
            institutions=[{**row, "hold": holds.get(row["institution"])} for row in rows],
            holds=list(holds.values()),
            stopped=[row for row in rows if row["held"] or row["failed"]],
            recent=[self._recent(batch) for batch in recent],
            quarantine=quarantined(self._spool))

    def batch(self, batch_id: int) -> str | None:
        """One batch with its files, history and report text; None when there is none."""
        try:
            details = batch_details(self._store, self._spool, batch_id)
        except KeyError:
            return None
        report = batch_files(self._spool, self._store.batch(batch_id))["report"]
        text = report.read_text(encoding="utf-8", errors="replace") if report.exists() else None
        return self._templates.get_template("batch.html").render(
            generated=_now(self._store), batch=details, report=text)

    def _recent(self, batch: BatchRecord) -> dict[str, Any]:
        files = [upload.filename for upload in self._store.uploads(batch_id=batch.id)]
        return {"batch": batch, "files": files,
                "finished": batch.state in FINISHED_BATCH_STATES,
                "has_report": batch_files(self._spool, batch)["report"].exists()}


def _now(store: Store) -> str:
    return datetime.fromtimestamp(store.clock(), tz=UTC).isoformat(timespec="seconds")
