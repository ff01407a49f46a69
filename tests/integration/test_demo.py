"""The README's demo: `gateway serve` with no config, an upload as demo/demo, a report."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import paramiko

from gateway.state.states import BatchState
from gateway.state.store import Store
from tests.integration.gateway_process import REPO, wait_for
from tests.integration.mail_server import free_port


def test_demo_runs_with_no_config_and_reports_within_seconds(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    demo = _demo(tmp_path, port, log)
    try:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect("127.0.0.1", port=port, username="demo", password="demo",
                       look_for_keys=False, allow_agent=False)
        sftp = client.open_sftp()
        sftp.put(str(REPO / "config" / "samples" / "users.csv"), "inbox/users.csv")

        mail = tmp_path / "data" / "mail"
        subjects = wait_for(lambda: _batch_subjects(mail) if len(_batch_subjects(mail)) > 1
                            else [], 30, "the demo's receipt and result mails")
        assert [s.split("]")[0] for s in subjects] == ["[Accepted", "[Imported"]
        # The demo's exports: the nightly provisioning report (run at start too) and the SIS
        # export after the import, both in /outbox.
        for export, suffix in (("provisioning_csv", ".zip"), ("sis_export_csv", ".csv")):
            folder = f"outbox/{export}"
            [name] = wait_for(partial(sftp.listdir, folder), 30, f"the {export} export")
            assert name.endswith(f"-{export}{suffix}")
        with sftp.open(f"outbox/sis_export_csv/{sftp.listdir('outbox/sis_export_csv')[0]}") \
                as handle:
            assert handle.read().startswith(b"course_id,user_id,role,role_id,section_id,")
        reports = wait_for(lambda: sorted(sftp.listdir("reports")), 5, "SFTP reports")
        # The receipt stays readable next to the result (the quick start's promise).
        assert reports == [f"batch-000001.{stage}.{suffix}" for stage in ("receipt", "result")
                           for suffix in ("html", "json", "txt")] + ["status.json"]
        for stage in ("receipt", "result"):
            with sftp.open(f"reports/batch-000001.{stage}.txt") as handle:
                assert b"users.csv" in handle.read()
        client.close()
    finally:
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(20) == 0
    _assert_demo_logged(log, port)


def _batch_subjects(mail: Path) -> list[str]:
    """The subjects of the batch reports mailed so far (export mails left out), sorted."""
    subjects = [str(email.message_from_bytes(eml.read_bytes(),
                                             policy=email.policy.default)["Subject"])
                for eml in mail.glob("*.eml")]
    return sorted(s for s in subjects if not s.startswith("[Export"))


SESSION_LOGGERS = {f"gateway.intake.{name}" for name in ("auth", "receiving", "session",
                                                         "markers")}
"""The intake's loggers whose every line is about one connection."""


def _assert_demo_logged(log: Path, port: int) -> None:
    """Every line the demo wrote (stdout and stderr) is a JSON event: start-up, the demo
    announcement, one upload's session, the stop on SIGTERM."""
    lines: list[dict[str, Any]] = [json.loads(line) for line in log.read_text().splitlines()]
    events = [line["event"] for line in lines]
    assert events.index("demo mode") < events.index("gateway ready")
    [demo] = [line for line in lines if line["event"] == "demo mode"]
    assert (demo["sftp_port"], demo["user"], demo["level"]) == (port, "demo", "warning")
    assert "demo" not in demo["login_hint"]  # the password is the user name: not logged
    [stopping] = [line for line in lines if line["event"] == "stopping"]
    assert stopping["signal"] == "SIGTERM"
    assert events[-1] == "gateway stopped"
    assert events.index("stopping") > events.index("upload received")
    intake = [line for line in lines if line["logger"] in SESSION_LOGGERS]
    assert {"login accepted", "upload received", "connection closed"} <= {
        line["event"] for line in intake}
    assert len({line["session"] for line in intake}) == 1
    assert {line["client_version"] for line in intake} == {
        f"SSH-2.0-paramiko_{paramiko.__version__}"}
    assert all(line["peer"] == "127.0.0.1" and line["peer_port"] for line in intake)


def _demo(tmp_path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GATEWAY_SFTP__PORT": str(port), "PYTHONUNBUFFERED": "1",
           "GATEWAY_HTTP__PORT": str(free_port())}
    env.pop("GATEWAY_CONFIG", None)
    with open(log, "wb") as output:
        demo = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--data",
                                 str(tmp_path / "data")], stdout=output,
                                stderr=subprocess.STDOUT, env=env, cwd=REPO)
    wait_for(lambda: b"gateway ready" in log.read_bytes(), 30, "the demo to start")
    return demo


def _upload_and_wait(port: int, tmp_path: Path, imports: int) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=port, username="demo", password="demo",
                   look_for_keys=False, allow_agent=False)
    try:
        client.open_sftp().put(str(REPO / "config" / "samples" / "users.csv"), "inbox/users.csv")
    finally:
        client.close()
    store = Store(tmp_path / "data" / "state.db")
    wait_for(lambda: len([b for b in store.batches() if b.state is BatchState.IMPORTED])
             == imports, 30, f"import {imports}")


def test_the_embedded_canvas_keeps_its_imports_across_restarts(tmp_path: Path) -> None:
    # Canvas never reuses an import id; neither may the demo's Canvas after a restart, or
    # the gateway would meet "import 1" twice.
    port = free_port()
    for run in (1, 2):
        demo = _demo(tmp_path, port, tmp_path / f"demo-{run}.log")
        try:
            _upload_and_wait(port, tmp_path, imports=run)
        finally:
            demo.send_signal(signal.SIGTERM)
            assert demo.wait(20) == 0
    batches = Store(tmp_path / "data" / "state.db").batches()
    assert [b.import_id for b in batches] == [1, 2]
    assert (tmp_path / "data" / "sandbox" / "canvas.db").exists()
