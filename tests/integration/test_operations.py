"""The ops surface against a live daemon: status page in Chromium, /metrics, holds, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import struct
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import paramiko
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.ops.cli import main
from gateway.sandbox.server import CanvasSandbox
from gateway.state.states import BatchState, NoticeState
from tests.integration.browser import rendered_dom, screenshot
from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.sftp_clients import openssh_put, paramiko_session

SAMPLES = REPO / "config" / "samples"


def _get(gateway: GatewayProcess, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{gateway.http_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _settled(gateway: GatewayProcess, batches: int) -> bool:
    """Every batch ended and every report sent."""
    store = gateway.store()
    ended = [b for b in store.batches() if b.state in (BatchState.IMPORTED,
                                                         BatchState.REJECTED)]
    return len(ended) == batches and not store.notices(state=NoticeState.PENDING)


def _cli(gateway: GatewayProcess, *args: str) -> int:
    return main([*args, "--config", str(gateway.config_path)])


def _artifacts(tmp_path: Path) -> Path:
    """Where screenshots are kept: ``$GATEWAY_TEST_ARTIFACTS`` (for CI to upload), else the
    test's own temporary folder."""
    folder = Path(os.environ.get("GATEWAY_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _png_size(image: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    header = image.read_bytes()[:24]
    assert header[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_status_page_in_chromium_shows_institutions_holds_batches_and_reports(
        gateway: GatewayProcess, sandbox: CanvasSandbox, alpha: Account, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Also: the rejected file, the alerts panel with its commands, and the last upload."""
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv", SAMPLES / "courses.csv"])
    wait_for(lambda: _settled(gateway, 1), 30, "the import and its reports")
    bad = tmp_path / "people.csv"
    bad.write_text("person,email\np1,p1@example.edu\n")
    openssh_put(gateway.sftp_port, alpha, [bad])
    wait_for(lambda: _settled(gateway, 2), 30, "the rejection and its report")
    assert _cli(gateway, "hold", "alpha", "--reason", "term rollover") == 0
    [imported] = sandbox.imports("1")

    profile = tmp_path / "chromium"
    page = rendered_dom(f"http://127.0.0.1:{gateway.http_port}/", profile)
    shot = screenshot(f"http://127.0.0.1:{gateway.http_port}/", profile,
                      _artifacts(tmp_path) / "status-page.png")
    for text in ("Institutions", "alpha", "held", "term rollover",
                 '<span class="file">users.csv</span>, <span class="file">courses.csv</span>',
                 "people.csv (rejected)</span>", ">imported<", ">rejected<",
                 str(imported["id"]), "sftp: listening on port", "Nothing in quarantine.",
                 "version 0.", " · up "):
        assert text in page, text
    alerts = page[page.index('<div id="alerts">'):page.index("<h2>Institutions")]
    assert "alpha is held: term rollover" in alerts
    assert "gateway release alpha" in alerts
    last_upload = page[page.index('<td class="last-upload">'):]
    assert last_upload.startswith('<td class="last-upload">people.csv<br>')
    assert re.search(r"\((just now|\d+ s ago)\)</span></span></td>", last_upload[:200])
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    assert _png_size(shot) == (1280, 900)

    batch_page = rendered_dom(f"http://127.0.0.1:{gateway.http_port}/batches/1", profile)
    assert "Imported: batch-000001 (alpha)" in batch_page
    assert "submitting" in batch_page  # the history table
    capsys.readouterr()
    assert _cli(gateway, "status") == 1  # a held queue is something to look at
    assert "queue held since" in capsys.readouterr().out
    assert gateway.stop() == 0


def test_metrics_count_the_flow(gateway: GatewayProcess, alpha: Account) -> None:
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    wait_for(lambda: _settled(gateway, 1), 30, "the import and its reports")
    status, text = _get(gateway, "/metrics")
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    alpha_label = (("institution", "alpha"),)
    assert samples[("gateway_imports_total", (("institution", "alpha"),
                                              ("outcome", "imported")))] == 1
    assert samples[("gateway_uploads_total", alpha_label)] == 1
    assert samples[("gateway_upload_bytes_total", alpha_label)] == \
        (SAMPLES / "users.csv").stat().st_size
    assert samples[("gateway_queue_depth", alpha_label)] == 0
    assert samples[("gateway_upload_to_post_seconds_count", alpha_label)] == 1
    assert samples[("gateway_post_to_finish_seconds_count", alpha_label)] == 1
    assert samples[("gateway_outbox_depth", (("state", "pending"),))] == 0
    assert samples[("gateway_last_success_timestamp_seconds", alpha_label)] > 1.7e9
    assert samples[("gateway_last_upload_timestamp_seconds", alpha_label)] > 1.7e9
    assert samples[("gateway_sftp_logins_total", alpha_label)] >= 1
    assert samples[("gateway_sftp_sessions", alpha_label)] == 0  # openssh_put has left
    assert samples[("gateway_build_info", (("version", "0.1.0"),))] == 1
    assert samples[("process_open_fds", ())] > 0
    assert not [name for name, _ in samples if name.endswith("_created")]
    assert gateway.stop() == 0


def test_metrics_count_rejected_files_by_code(gateway: GatewayProcess, alpha: Account,
                                              tmp_path: Path) -> None:
    gateway.start()
    bad = tmp_path / "people.csv"
    bad.write_text("person,email\np1,p1@example.edu\n")
    openssh_put(gateway.sftp_port, alpha, [bad])
    wait_for(lambda: _settled(gateway, 1), 30, "the rejection and its report")
    _, text = _get(gateway, "/metrics")
    rejected = {s.labels["code"]: s.value for family in text_string_to_metric_families(text)
                for s in family.samples if s.name == "gateway_files_rejected_total"}
    assert sum(rejected.values()) == 1, rejected
    assert gateway.stop() == 0


def test_institution_hold_stops_posting_until_released(
        gateway: GatewayProcess, sandbox: CanvasSandbox, alpha: Account,
        capsys: pytest.CaptureFixture[str]) -> None:
    gateway.start()
    assert _cli(gateway, "hold", "alpha") == 0
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    wait_for(lambda: [b.state for b in gateway.store().batches()] == [BatchState.READY], 20,
             "the batch to be ready")
    time.sleep(2.0)  # many forwarder rounds
    assert sandbox.imports("1") == []
    assert gateway.store().batches()[0].state is BatchState.READY
    capsys.readouterr()
    assert _cli(gateway, "release", "alpha") == 0
    assert "hold lifted" in capsys.readouterr().out
    wait_for(lambda: _settled(gateway, 1), 30, "the import after release")
    assert len(sandbox.imports("1")) == 1
    assert _cli(gateway, "show", "1", "--json") == 0
    details = json.loads(capsys.readouterr().out)
    assert details["canvas_import"] == sandbox.imports("1")[0]["id"]
    assert gateway.stop() == 0


def test_readyz_fails_below_the_disk_floor_and_the_healthcheck_says_so(
        gateway: GatewayProcess, capsys: pytest.CaptureFixture[str]) -> None:
    gateway.write_config()
    with open(gateway.config_path, "a") as config:
        config.write("[storage]\nmin_free_mb = 1000000000\n")  # a petabyte
    gateway.start()
    assert _get(gateway, "/healthz")[0] == 200
    status, body = _get(gateway, "/readyz")
    assert status == 503
    assert "FAIL  disk space:" in body
    assert _cli(gateway, "check", "http") == 1
    assert "FAIL  http:" in capsys.readouterr().out
    assert gateway.stop() == 0


def test_health_asks_the_daemon_and_never_the_config(
        gateway: GatewayProcess, capsys: pytest.CaptureFixture[str]) -> None:
    health = ["health", "--data", str(gateway.data_dir)]
    gateway.start()
    assert main(health) == 0
    assert capsys.readouterr().out.startswith(
        f"healthy: gateway pid {gateway.process.pid if gateway.process else 0}: "
        f"http://127.0.0.1:{gateway.http_port}/healthz: ")
    gateway.config_path.write_text("[sftp\nport = ")  # an editor's half-written save
    assert main(health) == 0
    assert _cli(gateway, "check", "http") == 1  # what the old HEALTHCHECK ran: sick
    assert gateway.stop() == 0
    assert main(health) == 1
    assert capsys.readouterr().out.endswith(
        f"unhealthy: no gateway is running on {gateway.data_dir}\n")


def test_sigterm_mid_upload_exits_cleanly_within_seconds_and_keeps_nothing_partial(
        gateway: GatewayProcess, alpha: Account) -> None:
    gateway.start()
    client, sftp = paramiko_session(gateway.sftp_port, alpha)
    handle = sftp.open("inbox/users.csv", "wb")
    handle.write(b"user_id,login_id,status\n")
    stop_writing = threading.Event()

    def keep_writing() -> None:
        try:
            while not stop_writing.is_set():
                handle.write(b"u1,l1,active\n" * 1000)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the server went away, as it should

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    incoming = gateway.data_dir / "spool" / "incoming"
    wait_for(lambda: any(p.stat().st_size > 100_000 for p in incoming.iterdir()), 20,
             "the upload to be under way")
    started = time.monotonic()
    code = gateway.stop()
    took = time.monotonic() - started
    stop_writing.set()
    client.close()
    assert code == 0
    assert took < 10.0, f"stopping took {took:.1f}s"
    assert not any(incoming.iterdir())
    assert gateway.store().uploads() == []
