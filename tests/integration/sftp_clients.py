"""Uploading to the gateway with the clients vendors really use: OpenSSH sftp and paramiko."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko

from tests.integration.gateway_process import Account

OPENSSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                   "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]


def openssh_batch(port: int, account: Account, commands: list[str],
                  timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``sftp -b -`` with key auth; returns the finished process (check returncode)."""
    return subprocess.run(
        ["sftp", "-b", "-", "-P", str(port), "-i", str(account.key_file), *OPENSSH_OPTIONS,
         f"{account.name}@127.0.0.1"],
        input="\n".join(commands) + "\n", capture_output=True, text=True, timeout=timeout,
        check=False)


def openssh_put(port: int, account: Account, files: list[Path]) -> None:
    """Upload ``files`` into /inbox in one OpenSSH sftp session, failing loudly on error."""
    done = openssh_batch(port, account, [f'put "{path}" inbox/' for path in files])
    assert done.returncode == 0, f"sftp failed: {done.stderr}"


def paramiko_session(port: int, account: Account) -> tuple[paramiko.SSHClient,
                                                            paramiko.SFTPClient]:
    """A paramiko SFTP session authenticated by password."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=port, username=account.name, password=account.password,
                   look_for_keys=False, allow_agent=False, timeout=15)
    return client, client.open_sftp()


def paramiko_put(port: int, account: Account, local: Path, remote: str) -> None:
    """Upload one file with paramiko's put (which stats the file afterwards to confirm)."""
    client, sftp = paramiko_session(port, account)
    try:
        sftp.put(str(local), remote, confirm=True)
    finally:
        sftp.close()
        client.close()
