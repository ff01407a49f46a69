"""Exports end to end: the real daemon runs Canvas account reports in the sandbox and
publishes them into the institution's /outbox, read by OpenSSH sftp and paramiko."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from gateway.exports.runs import ExportRun, runs_of
from gateway.sandbox import ErrorFault, Faults, MaintenanceFault
from gateway.sandbox.faults import ReportFault
from gateway.sandbox.server import CanvasSandbox
from gateway.state.states import ExportRunState
from tests.integration.exports.conftest import request
from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.mail_server import Collector
from tests.integration.sftp_clients import openssh_batch, openssh_put, paramiko_session

SAMPLES = REPO / "config" / "samples"


def published(gateway: GatewayProcess, export: str) -> list[ExportRun]:
    return [run for run in runs_of(gateway.store(), "alpha", export)
            if run.state is ExportRunState.PUBLISHED]


def served(sandbox: CanvasSandbox, report: str) -> list[bytes]:
    """The files Canvas made for ``report``'s runs, oldest first."""
    return [run.file.content for run in sandbox.report_runs.all("1")
            if run.report == report and run.file is not None]


def test_after_import_and_request_exports_arrive_in_the_outbox_byte_identical(
        exporting: GatewayProcess, sandbox: CanvasSandbox, alpha: Account,
        tmp_path: Path) -> None:
    exporting.start()
    openssh_put(exporting.sftp_port, alpha,
                [SAMPLES / "users.csv", SAMPLES / "courses.csv", SAMPLES / "sections.csv",
                 SAMPLES / "enrollments.csv"])
    [sis_run] = wait_for(lambda: published(exporting, "sis_export_csv"), 60,
                         "the after-import SIS export")
    assert sis_run.trigger == "after_import"
    assert sis_run.file_name is not None
    assert sis_run.file_name.endswith("-sis_export_csv.zip")
    [canvas_zip] = served(sandbox, "sis_export_csv")

    request(exporting, alpha, "last_user_access_csv")
    [access_run] = wait_for(lambda: published(exporting, "last_user_access_csv"), 30,
                            "the requested export")
    [access_csv] = served(sandbox, "last_user_access_csv")
    assert access_csv.startswith(b"user id,user sis id,")
    assert b"u1001" in access_csv

    sis_path = f"outbox/sis_export_csv/{sis_run.file_name}"
    access_path = f"outbox/last_user_access_csv/{access_run.file_name}"
    done = openssh_batch(exporting.sftp_port, alpha, [
        f'get "{sis_path}" "{tmp_path}/sis.zip"', f'get "{access_path}" "{tmp_path}/a.csv"'])
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sis.zip").read_bytes() == canvas_zip
    assert (tmp_path / "a.csv").read_bytes() == access_csv
    client, sftp = paramiko_session(exporting.sftp_port, alpha)
    try:
        assert sorted(sftp.listdir("outbox")) == ["last_user_access_csv", "sis_export_csv"]
        with sftp.open(access_path) as remote:
            assert remote.read() == access_csv
    finally:
        client.close()
    # The request file was never an upload: only the four sample files were batched.
    assert [u.filename for u in exporting.store().uploads()] == [
        "users.csv", "courses.csv", "sections.csv", "enrollments.csv"]
    # Canvas's file store never saw the token (nor any credential).
    seen = sandbox.file_store.requests()
    assert len(seen) >= 2
    assert all(r.authorization is None and r.access_token is None for r in seen)


def test_the_vendor_cannot_write_rename_or_delete_in_the_outbox(
        exporting: GatewayProcess, sandbox: CanvasSandbox, alpha: Account,
        tmp_path: Path) -> None:
    exporting.start()
    request(exporting, alpha, "last_user_access_csv")
    [run] = wait_for(lambda: published(exporting, "last_user_access_csv"), 30, "the export")
    path = f"outbox/last_user_access_csv/{run.file_name}"
    local = tmp_path / "x.csv"
    local.write_bytes(b"user id\n")
    for command in (f'put "{local}" "{path}"', f'put "{local}" outbox/last_user_access_csv/new',
                    f'rename "{path}" outbox/last_user_access_csv/other.csv', f'rm "{path}"',
                    "mkdir outbox/mine", "rmdir outbox/last_user_access_csv",
                    f'chmod 777 "{path}"'):
        done = openssh_batch(exporting.sftp_port, alpha, [command])
        assert done.returncode != 0, command
    client, sftp = paramiko_session(exporting.sftp_port, alpha)
    try:
        with pytest.raises(PermissionError):
            sftp.open(path, "w")
        with pytest.raises(PermissionError):
            sftp.remove(path)
        with pytest.raises(PermissionError):
            sftp.rename(path, "outbox/last_user_access_csv/renamed.csv")
        assert sftp.listdir("outbox/last_user_access_csv") == [run.file_name]
    finally:
        client.close()
    held = exporting.data_dir / "sftp" / "alpha" / "outbox" / "last_user_access_csv"
    assert [p.name for p in held.iterdir()] == [run.file_name]
    assert (held / str(run.file_name)).read_bytes() == served(sandbox,
                                                               "last_user_access_csv")[0]


def test_unknown_request_is_refused_with_the_exports_named(
        exporting: GatewayProcess, alpha: Account) -> None:
    exporting.start()
    empty = exporting.root / "empty-request"
    empty.write_bytes(b"")
    done = openssh_batch(exporting.sftp_port, alpha, [f'put "{empty}" inbox/requests/grades'])
    assert done.returncode != 0
    client, sftp = paramiko_session(exporting.sftp_port, alpha)
    try:  # paramiko shows the server's words (OpenSSH only its status code)
        with pytest.raises(FileNotFoundError, match="the exports are: last_user_access_csv"):
            sftp.put(str(empty), "inbox/requests/grades")
    finally:
        client.close()
    assert runs_of(exporting.store(), "alpha") == []


def test_a_request_again_too_soon_is_refused_saying_when_to_ask(
        exporting: GatewayProcess, alpha: Account) -> None:
    exporting.start()
    request(exporting, alpha, "last_user_access_csv")
    wait_for(lambda: published(exporting, "last_user_access_csv"), 30, "the export")
    again = exporting.root / "again"
    again.write_bytes(b"")
    client, sftp = paramiko_session(exporting.sftp_port, alpha)
    try:
        with pytest.raises(OSError, match="once every 900 seconds: ask again from"):
            sftp.put(str(again), "inbox/requests/last_user_access_csv")
    finally:
        client.close()
    assert len(runs_of(exporting.store(), "alpha")) == 1


def test_canvas_error_state_fails_the_run_and_mails_the_institution(
        exporting: GatewayProcess, sandbox: CanvasSandbox, alpha: Account,
        mailbox: tuple[Collector, int]) -> None:
    sandbox.faults = Faults(report_outcome=ReportFault(count=1))
    exporting.start()
    request(exporting, alpha, "last_user_access_csv")
    [run] = wait_for(lambda: [r for r in runs_of(exporting.store(), "alpha")
                              if r.state is ExportRunState.FAILED], 30, "the failed run")
    assert run.reason is not None
    assert "'error'" in run.reason
    wait_for(lambda: any(b"last_user_access_csv" in m.content and b"failed" in m.content
                         for m in mailbox[0].messages), 20, "the failure mail")


def test_5xx_while_polling_and_downloading_is_retried_to_one_published_file(
        exporting: GatewayProcess, sandbox: CanvasSandbox, alpha: Account) -> None:
    # The first two status polls meet the maintenance page (503), the first two downloads
    # from the file store a 502/503/504 page.
    sandbox.faults = Faults(
        maintenance=MaintenanceFault(count=2, methods=("GET",), path="/reports/"),
        errors=ErrorFault(count=2, path="^/store/", statuses=(502, 503, 504)))
    exporting.start()
    request(exporting, alpha, "last_user_access_csv")
    [run] = wait_for(lambda: published(exporting, "last_user_access_csv"), 60, "the export")
    assert sandbox.faults_fired() == {"maintenance": 2, "errors": 2}
    assert run.attempts >= 4
    assert len(sandbox.report_runs.all("1")) == 1
    held = exporting.data_dir / "sftp" / "alpha" / "outbox" / "last_user_access_csv"
    assert (held / str(run.file_name)).read_bytes() == served(sandbox,
                                                               "last_user_access_csv")[0]


def test_paramiko_requests_and_the_file_stats_as_written(
        exporting: GatewayProcess, alpha: Account, tmp_path: Path) -> None:
    exporting.start()
    note = tmp_path / "note"
    note.write_bytes(b"please\n")
    client, sftp = paramiko_session(exporting.sftp_port, alpha)
    try:
        sftp.put(str(note), "inbox/requests/last_user_access_csv", confirm=True)
    finally:
        client.close()
    wait_for(lambda: published(exporting, "last_user_access_csv"), 30, "the export")




def test_operator_runs_an_export_and_lists_the_last_runs(
        exporting: GatewayProcess, sandbox: CanvasSandbox) -> None:
    exporting.start()

    def gateway_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway", *args, "--config",
                               str(exporting.config_path)], capture_output=True, text=True,
                              timeout=60, check=False, cwd=REPO)

    queued = gateway_cli("export", "run", "alpha", "last_user_access_csv")
    assert queued.returncode == 0, queued.stderr
    [run] = wait_for(lambda: published(exporting, "last_user_access_csv"), 30, "the export")
    assert run.trigger == "operator"
    listed = gateway_cli("exports", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["export"]: row for row in json.loads(listed.stdout)}
    assert rows["last_user_access_csv"]["last_run"]["file"] == \
        f"/outbox/last_user_access_csv/{run.file_name}"
    assert rows["sis_export_csv"]["triggers"] == ["after import"]
    assert rows["sis_export_csv"]["last_run"] is None
    unknown = gateway_cli("export", "run", "alpha", "grades")
    assert unknown.returncode == 1
    assert "its exports: last_user_access_csv, sis_export_csv" in unknown.stderr
    status = json.loads((exporting.data_dir / "sftp" / "alpha" / "reports" /
                         "status.json").read_text())
    assert [e["export"] for e in status["exports"]] == ["last_user_access_csv"]
    metrics = requests.get(f"http://127.0.0.1:{exporting.http_port}/metrics", timeout=10).text
    assert ('gateway_export_runs{export="last_user_access_csv",institution="alpha",'
            'state="published"} 1.0') in metrics
    page = requests.get(f"http://127.0.0.1:{exporting.http_port}/", timeout=10).text
    assert f"/outbox/last_user_access_csv/{run.file_name}" in page
