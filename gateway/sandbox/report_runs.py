"""Account report runs, as Canvas keeps them (``app/models/account_report.rb``).

A run is ``created`` when started, ``running`` from its start, and ``complete`` once
``report_seconds`` have passed; its file is built at that moment from the account's SIS
objects (report_files.py) and stored as an attachment.  A run the fault plan sends to
``error`` (or ``aborted``) ends so instead, without a file, and so does one whose
parameters name a term the account does not have.  The run's progress follows
(0, then 100 at the end) and ``current_line`` is not modelled.  Runs live in memory: a
sandbox restarted on the same data dir keeps its id counters (ids never repeat) but forgets
earlier runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from gateway.sandbox.files import new_uuid

ENDED = ("complete", "error", "aborted")


@dataclass(frozen=True)
class ReportFile:
    """A finished report's attachment."""

    id: int
    uuid: str
    filename: str
    content_type: str
    content: bytes
    created_at: datetime


@dataclass(frozen=True)
class ReportRun:
    """One run of one report on one account."""

    id: int
    account_id: str
    report: str
    parameters: dict[str, str]
    user_id: int
    created_at: datetime
    forced_state: str | None = None
    ended_at: datetime | None = None
    state: str = "created"
    file: ReportFile | None = None

    def due(self, now: datetime, seconds: float) -> bool:
        """Whether the run has had its time to work and ends at ``now``."""
        return self.state not in (*ENDED, "deleted") \
            and now >= self.created_at + timedelta(seconds=seconds)


class ReportRuns:
    """Every account's report runs; thread-safe."""

    def __init__(self, take_id: Callable[[str], int], report_seconds: float) -> None:
        self._lock = threading.Lock()
        self._take_id = take_id
        self.report_seconds = report_seconds
        self._runs: dict[int, ReportRun] = {}

    def start(self, account_id: str, report: str, parameters: dict[str, str], *,
              user_id: int, now: datetime, forced_state: str | None) -> ReportRun:
        """Create a run (``created``); ``forced_state`` is the end the fault plan chose."""
        run = ReportRun(self._take_id("account_report"), account_id, report, parameters,
                        user_id, now, forced_state)
        with self._lock:
            self._runs[run.id] = run
        return run

    def current(self, run_id: int, now: datetime,
                build: Callable[[ReportRun], tuple[str, bytes]]) -> ReportRun | None:
        """The run as it stands at ``now`` (ending it, and building its file with ``build``,
        when it is due), or None when there is none."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return None
            if run.state == "created":
                run = replace(run, state="running")
            if run.due(now, self.report_seconds):
                run = self._end(run, now, build)
            self._runs[run_id] = run
            return run

    def _end(self, run: ReportRun, now: datetime,
             build: Callable[[ReportRun], tuple[str, bytes]]) -> ReportRun:
        if run.forced_state is not None:
            return replace(run, state=run.forced_state, ended_at=now)
        try:
            kind, content = build(run)
        except LookupError:  # a parameter names nothing the account has (an unknown term)
            return replace(run, state="error", ended_at=now)
        stamp = now.strftime("%d_%b_%Y")
        name = f"{run.report}_{stamp}_{run.id}_.{kind}"
        file = ReportFile(self._take_id("attachment"), new_uuid(), name,
                          "application/zip" if kind == "zip" else "text/csv", content, now)
        return replace(run, state="complete", ended_at=now, file=file)

    def ids(self, account_id: str, report: str) -> list[int]:
        """The account's runs of ``report`` that are not deleted (``active``), newest
        first."""
        with self._lock:
            return sorted((run.id for run in self._runs.values()
                           if run.account_id == account_id and run.report == report
                           and run.state != "deleted"), reverse=True)

    def delete(self, run_id: int) -> None:
        """Mark a run ``deleted`` (``AccountReport#destroy``: the row stays)."""
        with self._lock:
            self._runs[run_id] = replace(self._runs[run_id], state="deleted")

    def all(self, account_id: str) -> list[ReportRun]:
        """Every run of the account as last seen, oldest first (for tests)."""
        with self._lock:
            return sorted((run for run in self._runs.values() if run.account_id == account_id),
                          key=lambda run: run.id)

    def file(self, attachment_id: int) -> tuple[ReportRun, ReportFile] | None:
        """The run owning attachment ``attachment_id``, and the file."""
        with self._lock:
            for run in self._runs.values():
                if run.file is not None and run.file.id == attachment_id:
                    return run, run.file
        return None


def run_json(run: ReportRun, base_url: str) -> dict[str, Any]:
    """``Api::V1::AccountReport#account_report_json`` (lib/api/v1/account_report.rb)."""
    file_url = None
    attachment = None
    if run.file is not None:
        file_url = f"{base_url}/accounts/{run.account_id}/files/{run.file.id}/download"
        attachment = {
            "id": run.file.id, "uuid": run.file.uuid, "display_name": run.file.filename,
            "filename": run.file.filename, "content-type": run.file.content_type,
            "size": len(run.file.content), "created_at": _iso(run.file.created_at),
            "url": f"{file_url}?download_frd=1&verifier={run.file.uuid}",
        }
    return {"id": run.id, "report": run.report, "status": run.state,
            "progress": 100 if run.state in ENDED else 0, "current_line": None,
            "parameters": run.parameters, "created_at": _iso(run.created_at),
            "started_at": _iso(run.created_at) if run.state != "created" else None,
            "ended_at": _iso(run.ended_at), "file_url": file_url, "attachment": attachment}


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None
