"""The read-only status page: alerts, institutions, queues, recent batches and their reports.

Plain HTML from jinja2 templates (autoescaped: file names and reasons come from senders),
no JavaScript; the overview refreshes itself every few seconds with a meta tag.  Every view
reads the store afresh, so the page shows what ``gateway status`` would print, plus the
alerts (:mod:`gateway.web.alerts`) with the command for each parked state, the version,
the uptime, and each timestamp's age ("3 min ago") next to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from gateway.ops.quarantine import quarantined
from gateway.ops.show import batch_details, batch_report, iso_time
from gateway.ops.status import status_rows
from gateway.state.custodies import build_shelf
from gateway.state.custody import Custody
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord
from gateway.state.report_names import latest_report
from gateway.state.shelf import REPORTS, read_whole
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES, UploadState
from gateway.web.activity import SftpActivity
from gateway.web.alerts import collect_alerts
from gateway.web.health import Health
from gateway.web.metrics import SFTP_ACTIVITY, VERSION

RECENT_BATCHES = 25
REFRESH_SECONDS = 10


class StatusPages:
    """Renders the overview (``/``) and one page per batch (``/batches/<id>``).

    ``started_at`` (store clock; default: now) is when the daemon started, for the uptime;
    ``activity`` is the intake's recent login trouble, for the alerts."""

    def __init__(self, *, store: StateStore, spool: Spool, custody: Custody,
                 institutions: Callable[[], Sequence[str]], health: Health,
                 started_at: float | None = None,
                 activity: SftpActivity = SFTP_ACTIVITY) -> None:
        self._store = store
        self._spool = spool
        self._custody = custody
        self._shelf = build_shelf(spool, custody)
        self._institutions = institutions
        self._health = health
        self._started_at = store.clock() if started_at is None else started_at
        self._activity = activity
        self._templates = Environment(
            loader=PackageLoader("gateway.web", "templates"),
            autoescape=select_autoescape(default=True), undefined=StrictUndefined,
            trim_blocks=True, lstrip_blocks=True)
        self._templates.filters["when"] = self._when

    def overview(self) -> str:
        """The whole gateway on one page."""
        rows = status_rows(self._store, list(self._institutions()))
        holds = self._store.institution_holds()
        recent = self._store.recent_batches(RECENT_BATCHES)
        # One listing of /reports per institution, not a look-up per report name: in
        # cluster mode each is a request to the bucket, and the page refreshes itself.
        reports = {name: {entry.name for entry in self._shelf.files(name, REPORTS)}
                   for name in {batch.institution for batch in recent}}
        return self._templates.get_template("overview.html").render(
            generated=_now(self._store), refresh=REFRESH_SECONDS, probes=self._health.ready(),
            version=VERSION, uptime=_duration(self._store.clock() - self._started_at),
            alerts=collect_alerts(self._store, rows, holds, self._activity),
            institutions=[{**row, "hold": holds.get(row["institution"])} for row in rows],
            recent=[self._recent(batch, reports[batch.institution]) for batch in recent],
            quarantine=quarantined(self._custody))

    def batch(self, batch_id: int) -> str | None:
        """One batch with its files, history and report text; None when there is none."""
        try:
            details = batch_details(self._store, self._spool, self._custody, batch_id)
        except KeyError:
            return None
        batch = self._store.batch(batch_id)
        name = batch_report(self._shelf, batch)
        data = None if name is None else read_whole(self._shelf, batch.institution, REPORTS,
                                                    name)
        text = None if data is None else data.decode("utf-8", errors="replace")
        return self._templates.get_template("batch.html").render(
            generated=_now(self._store), version=VERSION,
            uptime=_duration(self._store.clock() - self._started_at), batch=details,
            report=text)

    def _when(self, stamp: float | str | None) -> Markup:
        """A store timestamp (or an ISO text of one) as ISO UTC with its age beside it."""
        if stamp is None:
            return Markup("-")
        at = datetime.fromisoformat(stamp).timestamp() if isinstance(stamp, str) else stamp
        return Markup('{} <span class="muted">({})</span>').format(
            iso_time(at), age(self._store.clock() - at))

    def _recent(self, batch: BatchRecord, reports: set[str]) -> dict[str, Any]:
        """A recent batch's line: its files, and whether ``reports`` (the names in its
        institution's /reports) holds a report of it."""
        files = [{"name": upload.filename,
                  "rejected": upload.state is UploadState.REJECTED,
                  "problem": upload.problem}
                 for upload in self._store.uploads(batch_id=batch.id)]
        return {"batch": batch, "files": files,
                "finished": batch.state in FINISHED_BATCH_STATES,
                "has_report": latest_report(reports.__contains__, batch.reference) is not None}


def _now(store: StateStore) -> str:
    return datetime.fromtimestamp(store.clock(), tz=UTC).isoformat(timespec="seconds")


def age(seconds: float) -> str:
    """How long ago, for people: "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago";
    a negative age (clocks apart) reads "just now"."""
    if seconds < 5:
        return "just now"
    return f"{_duration(seconds)} ago"


def _duration(seconds: float) -> str:
    """A length of time in its largest whole unit: "42 s", "3 min", "5 h", "2 d"."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{max(0, int(seconds))} s"
