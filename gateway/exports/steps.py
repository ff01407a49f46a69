"""One step of one export run, by its state: start, reconcile, poll and download, publish.

Never two Canvas reports for one run: the move to STARTING is committed before the POST, so
after a crash or a lost answer the run is found STARTING and reconciled (:func:`judge_started`
over the account's runs of that report) before anything is posted again.  Failures arrive
classified (:class:`~gateway.forwarding.canvas.CanvasError`); transient ones are retried at a
``next_attempt_at`` stored with the run (the forwarder's backoff), until the run's trouble has
lasted ``lifetime_seconds``.  Every end (published, failed) queues its notice in the same
transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from gateway.exports.canvas_reports import ENDED_BADLY, ENDED_WELL, ReportsClient
from gateway.exports.config import ExportsSettings
from gateway.exports.outbox import outbox_name
from gateway.exports.runs import ExportRun, claimed_report_ids, export_run, file_names
from gateway.forwarding.backoff import poll_delay, trouble_delay
from gateway.forwarding.canvas import CanvasError, parse_canvas_time
from gateway.institutions import Institution
from gateway.state.protocols import StateStore
from gateway.state.shelf import Shelf, export_folder
from gateway.state.spool import Spool
from gateway.state.states import ExportRunState, NoticeKind

log = logging.getLogger(__name__)

CLOCK_SLACK_SECONDS = 120.0
"""How far Canvas's clock may be behind ours when matching a report to the run that posted
it (reports made before the run began, less this, are never the run's)."""

State = ExportRunState


def judge_started(run_parameters: Mapping[str, str], starting_at: float,
                  reports: list[dict[str, Any]], claimed: set[int]) -> dict[str, Any] | None:
    """The Canvas report a STARTING run made, if the listing shows one: not owned by another
    run, created since the run began (less the clock slack) and carrying every parameter the
    run posted.  The oldest such report wins (runs of one export start one at a time)."""
    fitting = [report for report in reports
               if report.get("id") not in claimed
               and _created_since(report, starting_at - CLOCK_SLACK_SECONDS)
               and _carries(report.get("parameters"), run_parameters)]
    return min(fitting, key=lambda report: int(report["id"])) if fitting else None


def _created_since(report: dict[str, Any], since: float) -> bool:
    created = parse_canvas_time(report.get("created_at"))
    return created is not None and created.timestamp() >= since


def _carries(shown: object, posted: Mapping[str, str]) -> bool:
    if not isinstance(shown, dict):
        return not posted
    return all(str(shown.get(key, "")).lower() == value.lower()
               for key, value in posted.items())


class RunSteps:
    """Moves export runs on, one step per call of :meth:`advance`."""

    def __init__(self, *, store: StateStore, spool: Spool, shelf: Shelf,
                 settings: ExportsSettings,
                 client_for: Callable[[Institution], ReportsClient],
                 on_notice: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._spool = spool
        self._shelf = shelf
        self._settings = settings
        self._client_for = client_for
        self._on_notice = on_notice

    def advance(self, run: ExportRun, institution: Institution | None) -> None:
        """Take ``run`` one step on.  Raises TransitionError when another actor moved it."""
        if institution is None:
            self._fail(run, "the institution is no longer configured")
            return
        client = self._client_for(institution)
        steps = {State.SCHEDULED: self._start, State.STARTING: self._reconcile,
                 State.STARTED: self._poll, State.DOWNLOADED: self._publish}
        try:
            steps[run.state](run, client, institution)
        except CanvasError as error:
            self._trouble(run, str(error), transient=error.transient,
                          ambiguous=error.ambiguous)

    def postpone(self, run_id: int, error: Exception) -> None:
        """An unexpected failure (a full disk, a folder that cannot be written) stopped a
        step of run ``run_id``: try again later, as for transient Canvas trouble.  The run's
        ``reason`` (shown to the vendor in status.json and the failure mail) names the
        error's type only, as the sorter's seal failures do: its text may name the spool's
        paths.  The caller logs the error itself for the operators."""
        run = export_run(self._store, run_id)
        if run.state in (State.PUBLISHED, State.FAILED):
            return
        self._trouble(run, plain_reason(error), transient=True, ambiguous=True)

    def _start(self, run: ExportRun, client: ReportsClient, _: Institution) -> None:
        with self._store.transaction() as txn:
            txn.move("export_run", run.id, State.SCHEDULED, State.STARTING,
                     starting_at=txn.now)
        starting = self._store.clock()
        try:
            report = client.start(run.report, run.parameters)
        except CanvasError as error:
            self._trouble(_as_starting(run, starting), str(error), transient=error.transient,
                          ambiguous=error.ambiguous)
            return
        self._adopt(run, report)

    def _reconcile(self, run: ExportRun, client: ReportsClient, _: Institution) -> None:
        starting_at = run.starting_at or run.created_at
        claimed = claimed_report_ids(self._store, run.institution, run.report)
        found = judge_started(run.parameters, starting_at, client.runs(run.report), claimed)
        if found is not None:
            log.info("export run found in Canvas", extra={"run_id": run.id,
                                                         "report_id": found["id"]})
            self._adopt(run, found)
            return
        now = self._store.clock()
        with self._store.transaction() as txn:
            if now - starting_at < self._settings.reconcile_grace_seconds:
                txn.update("export_run", run.id, State.STARTING,
                           next_attempt_at=starting_at + self._settings.reconcile_grace_seconds)
            else:
                txn.move("export_run", run.id, State.STARTING, State.SCHEDULED,
                         reason="Canvas shows no report of this run; starting it again")

    def _adopt(self, run: ExportRun, report: dict[str, Any]) -> None:
        with self._store.transaction() as txn:
            txn.move("export_run", run.id, State.STARTING, State.STARTED,
                     report_id=int(report["id"]), canvas_state=str(report.get("status")),
                     trouble_since=None,
                     next_attempt_at=txn.now + self._settings.poll_initial_seconds)

    def _poll(self, run: ExportRun, client: ReportsClient, _: Institution) -> None:
        assert run.report_id is not None  # STARTED always has one
        report = client.status(run.report, run.report_id)
        status = str(report.get("status"))
        if status in ENDED_BADLY:
            self._fail(run, f"Canvas ended report {run.report_id} ({run.report}) in state "
                            f"{status!r}; see the account's reports in Canvas")
        elif status == ENDED_WELL:
            self._download(run, client, report)
        else:
            now = self._store.clock()
            elapsed = now - (run.starting_at or run.created_at)
            with self._store.transaction() as txn:
                txn.update("export_run", run.id, State.STARTED, canvas_state=status,
                           trouble_since=None, next_attempt_at=now + poll_delay(
                               elapsed, initial=self._settings.poll_initial_seconds,
                               maximum=self._settings.poll_max_seconds))

    def _download(self, run: ExportRun, client: ReportsClient, report: dict[str, Any]) -> None:
        attachment, size, sha256 = client.download(
            report, self._spool.export_path(run.id), max_bytes=self._settings.max_report_bytes)
        with self._store.transaction() as txn:  # the names read here cannot change meanwhile
            taken = file_names(self._store, run.institution, run.export)
            txn.move("export_run", run.id, State.STARTED, State.DOWNLOADED,
                     canvas_state=ENDED_WELL, size=size, trouble_since=None,
                     sha256=sha256, next_attempt_at=txn.now,
                     file_name=outbox_name(run.report, txn.now, attachment, taken))

    def _publish(self, run: ExportRun, _: ReportsClient, institution: Institution) -> None:
        assert run.file_name is not None  # DOWNLOADED always has one
        held = self._spool.export_path(run.id)
        self._shelf.publish_file(institution.name, export_folder(run.export), run.file_name,
                                 held)
        with self._store.transaction() as txn:
            txn.move("export_run", run.id, State.DOWNLOADED, State.PUBLISHED,
                     published_at=txn.now)
            txn.add_notice(NoticeKind.EXPORT_PUBLISHED, run.institution, None,
                           export_run_id=run.id)
        held.unlink(missing_ok=True)
        log.info("export published", extra={"run_id": run.id, "institution": run.institution,
                                            "export": run.export, "file": run.file_name,
                                            "bytes": run.size})
        self._on_notice()

    def _trouble(self, run: ExportRun, reason: str, *, transient: bool,
                 ambiguous: bool) -> None:
        """Retry ``run`` later (a run STARTING whose POST surely never reached Canvas goes
        back to SCHEDULED), or fail it: a permanent error, or trouble past its lifetime."""
        now = self._store.clock()
        since = run.trouble_since or now
        if not transient or now - since >= self._settings.lifetime_seconds:
            self._fail(run, reason)
            return
        retry_at = now + trouble_delay(now - since, initial=self._settings.retry_initial_seconds,
                                       maximum=self._settings.retry_max_seconds)
        log.warning("export run trouble; will retry", extra={
            "run_id": run.id, "state": run.state.value, "reason": reason})
        with self._store.transaction() as txn:
            fields: dict[str, Any] = {"next_attempt_at": retry_at, "attempts": run.attempts + 1,
                      "trouble_since": since, "reason": reason}
            if run.state is State.STARTING and not ambiguous:
                txn.move("export_run", run.id, State.STARTING, State.SCHEDULED, **fields)
            else:
                txn.update("export_run", run.id, run.state, **fields)

    def _fail(self, run: ExportRun, reason: str) -> None:
        with self._store.transaction() as txn:
            txn.move("export_run", run.id, run.state, State.FAILED, reason=reason)
            txn.add_notice(NoticeKind.EXPORT_FAILED, run.institution, None,
                           reason=reason, export_run_id=run.id)
        log.warning("export run failed", extra={"run_id": run.id, "institution":
                                                run.institution, "reason": reason})
        self._on_notice()


def plain_reason(error: Exception) -> str:
    """What the vendor reads of an unexpected error: its type, never its text."""
    return (f"the gateway could not finish this run's step ({type(error).__name__}); it "
            "retries until the run's lifetime ends, and its operators have the details")


def _as_starting(run: ExportRun, at: float) -> ExportRun:
    """The run as it is once the move to STARTING committed."""
    return replace(run, state=State.STARTING, starting_at=at)
