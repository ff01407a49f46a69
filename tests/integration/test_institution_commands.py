"""`gateway institution add|set-password|add-key|remove` against a running daemon: the new
account logs in with a real SFTP client, without a restart."""

from __future__ import annotations

import io
import re
import stat
from pathlib import Path

import paramiko
import pytest

from gateway.ops.cli import main
from tests.integration.gateway_process import GatewayProcess, make_account, wait_for
from tests.integration.sftp_clients import openssh_batch

PASSWORD = "gamma-long-secret-password"


def _cli(gateway: GatewayProcess, *args: str) -> int:
    return main(["institution", *args, "--config", str(gateway.config_path)])


def _password_login(gateway: GatewayProcess, password: str) -> bool:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect("127.0.0.1", gateway.sftp_port, username="gamma", password=password,
                       allow_agent=False, look_for_keys=False, timeout=10)
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()
    return True


def test_an_added_institution_logs_in_without_a_restart(
        gateway: GatewayProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    gateway.start()
    gamma = make_account("gamma", tmp_path)
    public = tmp_path / "gamma.pub"
    public.write_text(gamma.public_key + "\n")
    assert openssh_batch(gateway.sftp_port, gamma, ["ls"]).returncode != 0

    assert _cli(gateway, "add", "gamma", "--canvas-url", gateway.sandbox_url, "--account-id",
                "1", "--token-env", "TEST_CANVAS_TOKEN", "--key", str(public),
                "--report-to", "registrar@gamma.example") == 0
    out = capsys.readouterr().out
    drop_in = gateway.root / "institutions.d" / "gamma.toml"
    assert f"institution gamma: added in {drop_in} (login: 1 key)" in out
    assert "the running gateway (pid " in out
    assert stat.S_IMODE(drop_in.stat().st_mode) == 0o640
    def listing() -> str | None:
        done = openssh_batch(gateway.sftp_port, gamma, ["ls -l"])
        return done.stdout if done.returncode == 0 else None

    listed = str(wait_for(listing, 30, "gamma's first login"))
    assert re.search(r"\nd\S+ +gamma +gamma +\d+ .* inbox\n", listed)  # ls -l owner
    assert gateway.process is not None
    assert gateway.process.poll() is None  # the same daemon: no restart

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert _cli(gateway, "set-password", "gamma", "--stdin") == 0
    captured = capsys.readouterr()
    assert PASSWORD not in captured.out + captured.err
    assert "$argon2id$" in drop_in.read_text()
    wait_for(lambda: _password_login(gateway, PASSWORD), 30, "gamma's password login")
    assert [p.name for p in drop_in.parent.iterdir()] == ["gamma.toml"]  # no temp file left

    assert _cli(gateway, "remove", "gamma") == 0
    wait_for(lambda: openssh_batch(gateway.sftp_port, gamma, ["ls"]).returncode != 0, 30,
             "gamma's login refused after remove")
    assert "reload refused" not in gateway.logs()
