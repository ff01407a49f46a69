"""Triggers become export runs: a schedule's time, a successful import, a request, a start.

Each trigger names a *slot* (``cron:<UTC time>``, ``import:<batch>``, ``request:<time>``,
``start:<time>``) and the store keeps one run per (institution, export, slot), so planning
twice (after a crash, on every round) never runs a slot twice.  What has been planned is
kept as marks in the store: the next schedule time of each export and the place, in the
order imports finished, of the last import it followed.  Missed schedule times (the gateway
was down) are coalesced into one run; an export seen for the first time runs from the next
time on, not for the past.

Only the institutions this node holds are planned (every one on a single machine; in cluster
mode those whose lease it holds), so a run is queued by the node that will run it.  A start
is planned once per (institution, export) by a planner, in its start period (five minutes,
or three lease times in cluster mode), and not when a start run of the export was queued
less than its ``request_interval_seconds`` ago: a restart loop, or the nodes of a cluster
starting together, start one Canvas report, and a node taking an institution over later (a
failover) is no start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway.exports.config import ExportSettings, canvas_parameters
from gateway.exports.runs import ExportRun, iso_utc, last_requested, last_started
from gateway.exports.schedule import next_slot, slot_name
from gateway.institutions import Institution
from gateway.intake.requests import RequestRefusedError
from gateway.state.protocols import StateStore
from gateway.state.states import ExportRunState

log = logging.getLogger(__name__)

START_PERIOD_SECONDS = 300.0
"""How long after a planner is made (its gateway's start) it plans start runs, at least."""


def start_period(lease_seconds: float | None) -> float:
    """How long a gateway plans start runs: :data:`START_PERIOD_SECONDS`, and on a cluster
    node (leases of ``lease_seconds``) at least three lease times, as a restarted node
    retakes the leases it held only once they have expired."""
    if lease_seconds is None:
        return START_PERIOD_SECONDS
    return max(START_PERIOD_SECONDS, 3 * lease_seconds)


class UnknownExportError(LookupError):
    """A request names no export the institution may request; ``str()`` says which exist."""


class Planner:
    """Plans the runs of the exports of the institutions its node holds."""

    def __init__(self, store: StateStore, institutions: Callable[[], dict[str, Institution]],
                 started_at: float, holds: Callable[[str], bool] = lambda _: True,
                 start_period: float = START_PERIOD_SECONDS) -> None:
        """``holds``: whether this node acts for an institution now (default: every one);
        ``start_period``: how long after ``started_at`` start runs are planned."""
        self._store = store
        self._institutions = institutions
        self._started_at = started_at
        self._holds = holds
        self._start_period = start_period
        self._start_planned: set[tuple[str, str]] = set()

    def plan(self, now: float) -> int:
        """Queue the runs due by ``now`` of the institutions held; returns how many were
        queued."""
        queued = 0
        for institution in list(self._institutions().values()):
            if not self._holds(institution.name):
                continue
            for export in institution.exports:
                queued += self._scheduled(institution, export, now)
                queued += self._after_import(institution, export)
                if export.run_at_start:
                    queued += self._at_start(institution, export, now)
        return queued

    def request(self, institution: str, name: str) -> int | None:
        """Queue a run of export ``name`` asked for by the institution (a request file);
        returns its id, or None when a requested run of it is still waiting to start (the
        request joins it).  The check and the insert are one transaction, so requests that
        arrive together queue one run.  Raises UnknownExportError when the institution has
        no such requestable export, RequestRefusedError when the last request came less than
        the export's ``request_interval_seconds`` ago."""
        found = self._institutions().get(institution)
        exports = {e.export_name: e for e in (found.exports if found else ()) if e.on_request}
        export = exports.get(name)
        if found is None or export is None:
            raise UnknownExportError(f"no export {name!r} can be requested; "
                                f"the exports are: {', '.join(sorted(exports)) or 'none'}")
        with self._store.transaction() as txn:
            txn.serialize(f"export-request:{institution}/{name}")
            last = last_requested(self._store, institution, name)
            if last is not None and last.state is ExportRunState.SCHEDULED:
                return None
            refusal = too_soon(last, txn.now, export.request_interval_seconds)
            if refusal is not None:
                raise RequestRefusedError(refusal)
            return txn.add_export_run(institution, name, export.report,
                                      slot=f"request:{txn.now:.6f}", trigger="request",
                                      parameters=canvas_parameters(export))

    def refusal(self, institution: str, name: str) -> str | None:
        """Why a request for export ``name`` would be refused now (asked too soon after the
        last), or None: a read for the SFTP open, before the request is made; :meth:`request`
        decides."""
        found = self._institutions().get(institution)
        export = next((e for e in (found.exports if found else ())
                       if e.export_name == name), None)
        last = last_requested(self._store, institution, name)
        if export is None or (last is not None and last.state is ExportRunState.SCHEDULED):
            return None
        return too_soon(last, self._store.clock(), export.request_interval_seconds)

    def _scheduled(self, institution: Institution, export: ExportSettings, now: float) -> int:
        if export.schedule is None:
            return 0
        key = f"export-next:{institution.name}/{export.export_name}"
        due = self._store.mark(key)
        following = next_slot(export.schedule, institution.time_zone, now)
        if due is None or due > following:  # new, or its schedule was changed
            with self._store.transaction() as txn:
                txn.set_mark(key, following)
            return 0
        if now < due:
            return 0
        with self._store.transaction() as txn:
            queued = txn.add_export_run(
                institution.name, export.export_name, export.report, slot=slot_name(due),
                trigger="schedule", parameters=canvas_parameters(export))
            txn.set_mark(key, following)
        return int(queued is not None)

    def _after_import(self, institution: Institution, export: ExportSettings) -> int:
        """Queue a run when the institution's latest finished import is newer, in completion
        order (:meth:`StateStore.last_imported`), than the one the export last followed: a
        lower-id batch imported after a higher one triggers it too."""
        if not export.after_import:
            return 0
        key = f"export-imported:{institution.name}/{export.export_name}"
        seen = self._store.mark(key)
        latest = self._store.last_imported(institution.name)
        place = latest[0] if latest else 0
        if seen is not None and place <= seen:
            return 0
        with self._store.transaction() as txn:
            queued = None
            if seen is not None and latest is not None:  # the first look only notes the place
                queued = txn.add_export_run(
                    institution.name, export.export_name, export.report,
                    slot=f"import:{latest[1].reference}", trigger="after_import",
                    parameters=canvas_parameters(export))
            txn.set_mark(key, float(place))
        return int(queued is not None)

    def _at_start(self, institution: Institution, export: ExportSettings, now: float) -> int:
        """Queue the start run of ``export``: once, in the start period, unless another
        start queued one less than ``request_interval_seconds`` ago (see the module)."""
        key = (institution.name, export.export_name)
        if key in self._start_planned or now - self._started_at > self._start_period:
            return 0
        with self._store.transaction() as txn:
            txn.serialize(f"export-start:{institution.name}/{export.export_name}")
            last = last_started(self._store, institution.name, export.export_name)
            queued = None
            if last is None or not _recent(last, txn.now, export.request_interval_seconds):
                queued = txn.add_export_run(
                    institution.name, export.export_name, export.report,
                    slot="start:" + slot_name(self._started_at)[5:], trigger="start",
                    parameters=canvas_parameters(export))
        self._start_planned.add(key)  # after the commit: a failed round tries again
        return int(queued is not None)


def too_soon(last: ExportRun | None, now: float, interval: float) -> str | None:
    """Why a request at ``now`` is refused, given the export's last requested run: asked
    less than ``interval`` seconds after it (None: the request may be queued)."""
    if last is None or not _recent(last, now, interval):
        return None
    return (f"a run of {last.export!r} was requested at {iso_utc(last.created_at)}; it can "
            f"be requested once every {interval:g} seconds: ask again from "
            f"{iso_utc(last.created_at + interval)}")


def _recent(last: ExportRun, now: float, interval: float) -> bool:
    """Whether ``last`` was queued less than ``interval`` seconds before ``now`` (one rule
    for requests and starts)."""
    return now - last.created_at < interval


def queue_operator_run(store: StateStore, institution: str, export: ExportSettings) -> int:
    """Queue a run of ``export`` an operator asked for (``gateway export run``); returns its
    id.  Every call is a run of its own: the slot is the moment asked."""
    now = store.clock()
    with store.transaction() as txn:
        run_id = txn.add_export_run(institution, export.export_name, export.report,
                                    slot=f"operator:{now:.6f}", trigger="operator",
                                    parameters=canvas_parameters(export))
    assert run_id is not None  # a fresh slot
    return run_id
