"""Whether a gateway runs on a data dir: only the process holding its lock counts."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.instance import HTTP_NAME, PID_NAME, InstanceError, running_pid, signal_running
from gateway.ops.cli import main
from tests.unit.daemon_stand_in import running_on


def test_a_live_gateway_holding_the_lock_is_running(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with running_on(tmp_path) as pid:
        assert running_pid(tmp_path) == pid
        assert main(["health", "--data", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"healthy: gateway pid {pid} runs (no HTTP port to ask)\n"


def test_a_reused_pid_is_not_taken_for_the_gateway(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # The daemon was killed, its pid file stayed, and its pid now belongs to another process
    # whose command line says "gateway" (an editor on gateway.toml, another gateway command).
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)",
                                 "vi", "/config/gateway.toml"])
    try:
        (tmp_path / PID_NAME).write_text(f"{stranger.pid}\n")
        assert running_pid(tmp_path) is None
        assert main(["health", "--data", str(tmp_path)]) == 1
        assert capsys.readouterr().out == f"unhealthy: no gateway is running on {tmp_path}\n"
        with pytest.raises(InstanceError):
            signal_running(tmp_path, signal.SIGHUP)  # a reload must not hang it up
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_an_address_left_by_a_crashed_run_is_not_asked(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # A run with an HTTP port was killed (its files stay); the next runs without one.
    (tmp_path / HTTP_NAME).write_text("127.0.0.1:1\n")
    with running_on(tmp_path) as pid:
        assert main(["health", "--data", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"healthy: gateway pid {pid} runs (no HTTP port to ask)\n"
