"""The disk-space floor refuses new uploads with a clear error, and intake's refusals and
failed logins show in /metrics."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import paramiko
import pytest

from gateway.sandbox.server import CanvasSandbox
from tests.integration.gateway_process import REPO, Account, GatewayProcess
from tests.integration.mail_server import Collector
from tests.integration.sftp_clients import openssh_batch, paramiko_session


def _metrics(gateway: GatewayProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.http_port}/metrics",
                                timeout=10) as answer:
        return str(answer.read().decode())


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def test_below_the_floor_uploads_are_refused_and_counted(
        tmp_path: Path, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    gateway = GatewayProcess(root=tmp_path, sandbox_url=sandbox.base_url,
                             smtp_port=mailbox[1], accounts=[alpha])
    gateway.write_config()
    # A floor no disk here can clear: every new upload must be turned away.
    gateway.config_path.write_text(gateway.config_path.read_text() +
                                   "[storage]\nmin_free_mb = 1000000000\n")
    try:
        gateway.start()
        done = openssh_batch(gateway.sftp_port, alpha,
                             [f'put "{REPO / "config" / "samples" / "users.csv"}" inbox/'])
        assert done.returncode != 0
        client, sftp = paramiko_session(gateway.sftp_port, alpha)
        with pytest.raises(OSError, match="low on disk space"):
            sftp.put(str(REPO / "config" / "samples" / "users.csv"), "inbox/users.csv")
        client.close()
        assert gateway.store().uploads() == []
        refused = 'gateway_sftp_uploads_refused_total{reason="disk_space"}'
        assert _metric(_metrics(gateway), refused) >= 2
    finally:
        gateway.kill()


def test_failed_logins_are_counted(gateway: GatewayProcess, alpha: Account) -> None:
    gateway.start()
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    with pytest.raises(paramiko.AuthenticationException):
        client.connect("127.0.0.1", port=gateway.sftp_port, username="alpha",
                       password="wrong password", look_for_keys=False, allow_agent=False)
    client.close()
    failures = 'gateway_sftp_auth_failures_total{method="password"}'
    assert _metric(_metrics(gateway), failures) >= 1
