"""Export run steps against a real store and spool, with a stand-in Canvas reports client:
two runs of one export that finish in the same second publish two files, never one; an
unexpected error reaches the vendor (run reason, notice, status.json) without its text, which
may name spool paths, while the operators' log has all of it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.exports.canvas_reports import ReportsClient
from gateway.exports.config import ExportSettings, ExportsSettings
from gateway.exports.exporter import Exporter
from gateway.exports.runs import ExportRun, export_run
from gateway.exports.steps import RunSteps
from gateway.institutions import CanvasTarget, Institution
from gateway.reporting.status_file import write_status_file
from gateway.state.local_shelf import LocalShelf
from gateway.state.spool import Spool, publish_stream
from gateway.state.states import ExportRunState
from tests.conftest import StoreMaker

NOW = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC).timestamp()
EXPORT = ExportSettings(report="last_user_access_csv")
ALPHA = Institution(name="alpha", username="alpha", password_hash=None, authorized_keys=(),
                    canvas=CanvasTarget("https://canvas.test", "1", SecretStr("t")),
                    report_to=(), report_cc=(), exports=(EXPORT,))


class Reports:
    """Canvas's reports: each run is complete at once, its file naming its report id."""

    def __init__(self) -> None:
        self.next_id = 100

    def start(self, report: str, parameters: dict[str, str]) -> dict[str, Any]:
        self.next_id += 1
        return {"id": self.next_id, "report": report, "status": "created"}

    def status(self, report: str, report_id: int) -> dict[str, Any]:
        return {"id": report_id, "report": report, "status": "complete"}

    def download(self, report: dict[str, Any], destination: Path, *,
                 max_bytes: int) -> tuple[str, int, str]:
        size, sha256 = publish_stream(destination, [f"report {report['id']}\n".encode()])
        return "report.csv", size, sha256


def test_two_runs_done_in_the_same_second_publish_two_files(tmp_path: Path,
                                                            make_store: StoreMaker) -> None:
    store = make_store(lambda: NOW)
    spool = Spool(tmp_path / "data")
    reports = Reports()
    steps = RunSteps(store=store, spool=spool, shelf=LocalShelf(spool), settings=ExportsSettings(),
                     client_for=lambda _: reports)  # type: ignore[arg-type,return-value]
    with store.transaction() as txn:
        ids = [txn.add_export_run("alpha", EXPORT.export_name, EXPORT.report, slot=slot,
                                  trigger="request", parameters={})
               for slot in ("request:1", "request:2")]

    def run(run_id: int | None) -> ExportRun:
        assert run_id is not None
        return export_run(store, run_id)

    for _ in range(3):  # start, poll and download, publish: both runs in each round
        for run_id in ids:
            steps.advance(run(run_id), ALPHA)
    runs = [run(run_id) for run_id in ids]
    assert [r.state for r in runs] == [ExportRunState.PUBLISHED] * 2
    assert runs[0].file_name != runs[1].file_name
    folder = spool.home("alpha") / "outbox" / EXPORT.export_name
    assert sorted(p.read_bytes() for p in folder.iterdir()) == [b"report 101\n",
                                                                b"report 102\n"]


class Answers:
    """A CanvasClient stand-in: the POST's answer is a 200 without a report id."""

    def __init__(self) -> None:
        self.posts = 0

    def request_json(self, method: str, path: str, **_: Any) -> Any:
        if method == "POST":
            self.posts += 1
            return {"status": "created"}
        return []  # the index: nothing to see yet


def test_a_start_answered_without_a_report_id_is_never_posted_again_blindly(
        tmp_path: Path, make_store: StoreMaker) -> None:
    # Canvas answered 200: it may well have made the report, so the run is reconciled
    # (STARTING) before anything is posted again, never sent straight back to SCHEDULED.
    store = make_store(lambda: NOW)
    canvas = Answers()
    client = ReportsClient(canvas, "1")  # type: ignore[arg-type]
    spool = Spool(tmp_path / "data")
    steps = RunSteps(store=store, spool=spool, shelf=LocalShelf(spool),
                     settings=ExportsSettings(), client_for=lambda _: client)
    with store.transaction() as txn:
        run_id = txn.add_export_run("alpha", EXPORT.export_name, EXPORT.report,
                                    slot="request:1", trigger="request", parameters={})
    assert run_id is not None
    steps.advance(export_run(store, run_id), ALPHA)
    assert export_run(store, run_id).state is ExportRunState.STARTING
    assert canvas.posts == 1


def test_an_unexpected_error_reaches_the_vendor_without_paths(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, make_store: StoreMaker) -> None:
    # The held download gone from the spool: an unexpected error whose text names a path.
    clock = {"now": NOW}
    store = make_store(lambda: clock["now"])
    spool = Spool(tmp_path / "data")
    with store.transaction() as txn:
        run_id = txn.add_export_run("alpha", EXPORT.export_name, EXPORT.report,
                                    slot="request:1", trigger="request", parameters={})
        assert run_id is not None
        s = ExportRunState
        txn.move("export_run", run_id, s.SCHEDULED, s.STARTING)
        txn.move("export_run", run_id, s.STARTING, s.STARTED, report_id=5)
        txn.move("export_run", run_id, s.STARTED, s.DOWNLOADED, file_name="x.csv")
    exporter = Exporter(store=store, spool=spool, institutions=lambda: {"alpha": ALPHA},
                        settings=ExportsSettings(lifetime_seconds=60.0))
    with caplog.at_level(logging.ERROR):
        exporter.step()  # trouble, retried later
        clock["now"] += 3600
        exporter.step()  # the same, past the run's lifetime: failed
    run = export_run(store, run_id)
    assert run.state is ExportRunState.FAILED
    assert run.reason is not None
    assert "FileNotFoundError" in run.reason
    write_status_file(store, LocalShelf(spool), "alpha")
    notices = [n.reason for n in store.notices()]
    status = (spool.reports("alpha") / "status.json").read_text()
    assert run.reason in json.dumps(json.loads(status))
    for text in (run.reason, *notices, status):
        assert str(tmp_path) not in str(text)
    assert str(spool.export_path(run_id)) in caplog.text  # the operators see it all
