"""The exporter runner: plans export runs from their triggers and moves each due run on.

A round plans (schedule times, new imports, start), then takes every due run one step
(:class:`~gateway.exports.steps.RunSteps`), then, at most hourly, removes published files
past their export's retention and downloaded files no run will publish (left by a crash
between a publish and its clean-up, or by a run that failed after its download).  State is
all in the store, so a round cut short by a crash is taken up by the next process where it
stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy

import requests

from gateway.exports.canvas_reports import ReportsClient
from gateway.exports.config import ExportsSettings
from gateway.exports.planner import START_PERIOD_SECONDS, Planner
from gateway.exports.runs import due_runs, holding_run_ids
from gateway.exports.steps import RunSteps
from gateway.forwarding.canvas import CanvasClient
from gateway.institutions import CanvasTarget, Institution
from gateway.runner import EVERY_INSTITUTION, Holdings, Runner
from gateway.state.leases import LeaseLost, log_dropped
from gateway.state.local_shelf import LocalShelf
from gateway.state.protocols import StateStore
from gateway.state.shelf import Shelf, export_folder
from gateway.state.spool import Spool
from gateway.state.states import TransitionError

log = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 3600.0
DAY = 86400.0


class Exporter(Runner):
    """Runs every institution's exports."""

    name = "exporter"

    def __init__(self, *, store: StateStore, spool: Spool,
                 institutions: Callable[[], dict[str, Institution]],
                 settings: ExportsSettings, on_notice: Callable[[], None] = lambda: None,
                 idle_seconds: float = 1.0, holdings: Holdings = EVERY_INSTITUTION,
                 shelf: Shelf | None = None,
                 start_period_seconds: float = START_PERIOD_SECONDS) -> None:
        """``shelf``: where the outbox is (default: the SFTP homes of ``spool``);
        ``start_period_seconds``: how long after now start runs are planned."""
        super().__init__(idle_seconds=idle_seconds)
        self._store = store
        self._holdings = holdings
        self._spool = spool
        self._shelf = shelf or LocalShelf(spool)
        self._institutions = institutions
        self._settings = settings
        self._sessions: list[requests.Session] = []
        self._clients: dict[CanvasTarget, ReportsClient] = {}
        self.planner = Planner(store, institutions, started_at=store.clock(),
                               holds=holdings.holds, start_period=start_period_seconds)
        self._steps = RunSteps(store=store, spool=spool, shelf=self._shelf, settings=settings,
                               client_for=self.client_for, on_notice=on_notice)
        self._pruned_at = 0.0
        self._folders: set[tuple[str, str]] = set()

    def step(self) -> bool:
        """Plan, advance each due run one step, prune; True if any run was due."""
        now = self._store.clock()
        self._make_folders()
        self.planner.plan(now)
        due = [run for run in due_runs(self._store, now) if self._holdings.holds(run.institution)]
        institutions = self._institutions()
        for run in due:
            try:
                with self._holdings.acting(run.institution):
                    self._steps.advance(run, institutions.get(run.institution))
            except LeaseLost as error:
                log_dropped(error, run_id=run.id)
            except TransitionError as error:  # moved meanwhile (an operator, a reload)
                log.info("export run moved meanwhile", extra={"run_id": run.id,
                                                              "reason": str(error)})
            except Exception as error:
                log.exception("export run step failed", extra={
                    "run_id": run.id, "error": f"{type(error).__name__}: {error}"})
                self._steps.postpone(run.id, error)
        if now - self._pruned_at >= PRUNE_INTERVAL_SECONDS:
            self._prune(now)
        return bool(due)

    def _make_folders(self) -> None:
        """Every configured export has its /outbox folder from the start (a vendor's script
        can list it before the first file), also after a reload adds one."""
        for institution in self._institutions().values():
            for export in institution.exports:
                key = (institution.name, export.export_name)
                if key not in self._folders:
                    self._shelf.make_folder(institution.name, export_folder(export.export_name))
                    self._folders.add(key)

    def close(self) -> None:
        """Close the HTTP connections."""
        for session in self._sessions:
            session.close()

    def client_for(self, institution: Institution) -> ReportsClient:
        """The reports client of the institution's Canvas target (base URL, account, token),
        made on first use with an HTTP session of its own that keeps no cookies: nothing
        Canvas sets for one institution's calls is ever sent with another's."""
        target = institution.canvas
        if target not in self._clients:
            session = requests.Session()
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            self._sessions.append(session)
            canvas = CanvasClient(target, timeout_seconds=self._settings.request_timeout_seconds,
                                  session=session)
            self._clients[target] = ReportsClient(canvas, target.account_id)
        return self._clients[target]

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        self._sweep_held()
        for institution in self._institutions().values():
            if not self._holdings.holds(institution.name):
                continue  # its holder prunes (cluster mode: the outbox is shared)
            for export in institution.exports:
                removed = self._shelf.prune(institution.name, export_folder(export.export_name),
                                            older_than=now - export.retention_days * DAY)
                if removed:
                    log.info("old exports removed", extra={
                        "institution": institution.name, "export": export.export_name,
                        "files": len(removed)})

    def _sweep_held(self) -> None:
        """Remove the spool's downloaded files (and temp files) of runs that ended.  Safe here:
        only this runner's steps write there, and none is under way."""
        holding = {self._spool.export_path(run_id).name
                   for run_id in holding_run_ids(self._store)}
        if not self._spool.exports.is_dir():
            return
        for entry in os.scandir(self._spool.exports):
            if entry.name not in holding and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                log.info("held export file removed (its run has ended)",
                         extra={"file": entry.name})
