"""Operating the intake: host keys vendors pin, ``gateway reload``, one gateway per data dir."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from tests.integration.gateway_process import REPO, GatewayProcess, wait_for
from tests.integration.sftp_clients import asyncssh_sftp


def _gateway(process: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args, "--config",
                           str(process.config_path)], capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=False,
                          env={"TEST_CANVAS_TOKEN": process.token, "PATH": "/usr/bin:/bin"})


def _served_fingerprint(process: GatewayProcess) -> str:
    async def fingerprint() -> str:
        conn, _ = await asyncssh_sftp(process.sftp_port, process.accounts[0])
        async with conn:
            key = conn.get_server_host_key()
        assert key is not None
        return str(key.get_fingerprint("sha256"))

    return asyncio.run(fingerprint())


def test_host_keys_are_printed_and_kept_across_restarts(intake: GatewayProcess) -> None:
    intake.start()
    served = _served_fingerprint(intake)
    listed = _gateway(intake, "host-keys")
    assert listed.returncode == 0, listed.stderr
    assert served in listed.stdout
    assert len(listed.stdout.splitlines()) == 3  # ed25519, ecdsa, rsa
    for key in (intake.data_dir / "host-keys").iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    intake.stop()
    intake.start()
    assert _served_fingerprint(intake) == served


def test_known_hosts_lines_let_openssh_check_the_host_key(intake: GatewayProcess,
                                                          tmp_path: Path) -> None:
    intake.start()
    lines = _gateway(intake, "host-keys", "--known-hosts", f"127.0.0.1:{intake.sftp_port}")
    assert lines.returncode == 0, lines.stderr
    assert lines.stdout.startswith(f"[127.0.0.1]:{intake.sftp_port} ssh-")
    known = tmp_path / "known_hosts"
    known.write_text(lines.stdout)
    account = intake.accounts[0]
    checked = subprocess.run(
        ["sftp", "-b", "-", "-P", str(intake.sftp_port), "-i", str(account.key_file),
         "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
         "-o", "BatchMode=yes", f"{account.name}@127.0.0.1"],
        input="ls\n", capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stderr
    on_22 = _gateway(intake, "host-keys", "--known-hosts", "sftp.example.edu:22")
    assert on_22.stdout.startswith("sftp.example.edu ssh-")
    bad = _gateway(intake, "host-keys", "--known-hosts", "sftp.example.edu:http")
    assert bad.returncode == 2
    assert "expected HOST or HOST:PORT" in bad.stderr


def test_configured_host_keys_are_served_and_none_is_made(intake: GatewayProcess,
                                                           tmp_path: Path) -> None:
    # The secret mount every node behind one address shares.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    key = asyncssh.generate_private_key("ssh-ed25519")
    (secrets / "host_ed25519").write_bytes(key.export_private_key())
    (secrets / "host_ed25519").chmod(0o400)
    intake.sftp_options = [f'host_key_files = ["{secrets / "host_ed25519"}"]']
    intake.start()
    assert _served_fingerprint(intake) == key.get_fingerprint()
    assert list((intake.data_dir / "host-keys").iterdir()) == []  # none made
    listed = _gateway(intake, "host-keys")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        f"ssh-ed25519  {key.get_fingerprint()}  {key.export_public_key().decode().strip()}"]
    checked = _gateway(intake, "check", "sftp")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "a host key in sftp.host_key_files" in checked.stdout


def test_an_unsafe_host_key_file_stops_the_start_naming_it(intake: GatewayProcess,
                                                           tmp_path: Path) -> None:
    shared = tmp_path / "shared_key"
    shared.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    shared.chmod(0o666)
    intake.sftp_options = [f'host_key_files = ["{shared}"]']
    intake.write_config()
    for command in (("serve",), ("check", "config")):
        refused = _gateway(intake, *command)
        assert refused.returncode != 0
        assert (f"{intake.config_path}: sftp.host_key_files: {shared} is writable by group "
                "or others; make it 0600 or 0400") in refused.stdout + refused.stderr
        assert "Traceback" not in refused.stderr
    assert not list((intake.data_dir / "host-keys").glob("ssh_host_*"))


def test_reload_command_signals_the_running_gateway(intake: GatewayProcess) -> None:
    intake.write_config()
    refused = _gateway(intake, "reload")
    assert refused.returncode == 1
    assert "no gateway is running" in refused.stderr
    intake.start()
    done = _gateway(intake, "reload")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: "SFTP accounts reloaded" in intake.logs(), 10, "the reload")


def test_a_second_gateway_on_the_same_data_dir_stops_at_start(intake: GatewayProcess) -> None:
    intake.start()
    second = _gateway(intake, "serve")
    assert second.returncode == 2
    assert "another gateway is already running" in second.stderr


@pytest.mark.parametrize(("taken", "proxy"), [("sftp", "off"), ("http", "off"),
                                              ("sftp", "required")])  # the PROXY listener
def test_a_port_in_use_stops_the_start_with_a_clean_error(intake: GatewayProcess,
                                                          taken: str, proxy: str) -> None:
    intake.sftp_options = [f'proxy_protocol = "{proxy}"', 'proxy_networks = ["10.0.0.5/32"]']
    intake.write_config()
    port = intake.sftp_port if taken == "sftp" else intake.http_port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        started = _gateway(intake, "serve")
    assert started.returncode == 2
    assert "Traceback" not in started.stderr
    [line] = [json.loads(text) for text in started.stderr.splitlines()
              if "gateway not started" in text]
    assert line["reason"] == (f"configuration error: {taken}: cannot listen on "
                              f"127.0.0.1:{port}: Address already in use")
