"""SIGKILL the real daemon while an export runs, then restart it on the same data: exactly
one Canvas report run per slot and one published file."""

from __future__ import annotations

from pathlib import Path

from gateway.exports.runs import ExportRun, runs_of
from gateway.sandbox import Faults, LatencyFault
from gateway.sandbox.server import CanvasSandbox
from gateway.state.states import ExportRunState
from tests.integration.exports.conftest import request
from tests.integration.gateway_process import Account, GatewayProcess, wait_for

EXPORT = "last_user_access_csv"


def the_run(gateway: GatewayProcess) -> ExportRun | None:
    runs = runs_of(gateway.store(), "alpha", EXPORT)
    assert len(runs) <= 1
    return runs[0] if runs else None


def in_state(gateway: GatewayProcess, state: ExportRunState) -> ExportRun | None:
    run = the_run(gateway)
    return run if run is not None and run.state is state else None


def outbox(gateway: GatewayProcess) -> Path:
    return gateway.data_dir / "sftp" / "alpha" / "outbox" / EXPORT


def restarted_to_one_file(gateway: GatewayProcess, sandbox: CanvasSandbox) -> None:
    """Restart; the one run must end published, from Canvas's one report run."""
    gateway.start()
    run = wait_for(lambda: in_state(gateway, ExportRunState.PUBLISHED), 30, "the publish")
    assert run is not None
    [canvas_run] = sandbox.report_runs.all("1")
    assert run.report_id == canvas_run.id
    assert canvas_run.file is not None
    assert [p.name for p in outbox(gateway).iterdir()] == [run.file_name]
    assert (outbox(gateway) / str(run.file_name)).read_bytes() == canvas_run.file.content


def test_kill_while_canvas_runs_the_report(exporting: GatewayProcess,
                                           sandbox: CanvasSandbox, alpha: Account) -> None:
    sandbox.report_runs.report_seconds = 4.0
    exporting.start()
    request(exporting, alpha, EXPORT)
    wait_for(lambda: in_state(exporting, ExportRunState.STARTED), 20, "the report to start")
    exporting.kill()
    sandbox.report_runs.report_seconds = 0.2
    restarted_to_one_file(exporting, sandbox)


def test_kill_while_the_post_is_in_flight_adopts_canvas_report(
        exporting: GatewayProcess, sandbox: CanvasSandbox, alpha: Account) -> None:
    # The POST is held 3 s before Canvas handles it: the gateway dies having recorded
    # STARTING and never heard the answer; Canvas still makes the report.
    sandbox.faults = Faults(latency=LatencyFault(seconds=3.0, count=1, methods=("POST",),
                                                 path="/reports/"))
    exporting.start()
    request(exporting, alpha, EXPORT)
    wait_for(lambda: sandbox.faults_fired().get("latency"), 20, "the POST to reach Canvas")
    assert in_state(exporting, ExportRunState.STARTING) is not None
    exporting.kill()
    wait_for(lambda: sandbox.report_runs.all("1"), 10, "Canvas to make the report")
    restarted_to_one_file(exporting, sandbox)
    assert "export run found in Canvas" in exporting.logs()


def test_kill_while_publishing_publishes_once_after_restart(
        exporting: GatewayProcess, sandbox: CanvasSandbox, alpha: Account) -> None:
    # A file where the export's folder belongs makes every publish fail (even for root):
    # the run is held in DOWNLOADED, mid-publish, when the gateway is killed.
    exporting.start()
    wait_for(outbox(exporting).is_dir, 10, "the export's folder")  # made at start
    outbox(exporting).rmdir()
    outbox(exporting).write_bytes(b"in the way")
    request(exporting, alpha, EXPORT)
    wait_for(lambda: (run := in_state(exporting, ExportRunState.DOWNLOADED)) is not None
             and run.attempts >= 1, 20, "a failed publish")
    exporting.kill()
    outbox(exporting).unlink()
    restarted_to_one_file(exporting, sandbox)
