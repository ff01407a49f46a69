"""Uploading to the gateway with the clients vendors really use: OpenSSH sftp and scp,
paramiko, asyncssh, lftp, rclone, curl (libssh2), PuTTY's psftp (the engine of WinSCP and
FileZilla), JSch and Go's x/crypto/ssh with pkg/sftp; each on its default algorithms."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import asyncssh
import paramiko

from tests.integration.gateway_process import REPO, Account

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


def paramiko_transport(port: int, source: str) -> paramiko.Transport:
    """A paramiko SSH connection from the loopback address ``source`` (127.0.0.0/8 is all
    loopback) with its key exchange done, not logged in."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0))
    transport = paramiko.Transport(sock)
    transport.start_client(timeout=10)
    return transport


def paramiko_put(port: int, account: Account, local: Path, remote: str) -> None:
    """Upload one file with paramiko's put (which stats the file afterwards to confirm)."""
    client, sftp = paramiko_session(port, account)
    try:
        sftp.put(str(local), remote, confirm=True)
    finally:
        sftp.close()
        client.close()


# -- the other clients vendors use: each uploads ``local`` into /inbox as ``name``; with
# ``temp`` it uploads under that temporary name and renames it to ``name`` in the same
# session, as WinSCP, FileZilla and lftp do.  Each returns the finished process or raises.

def _checked(command: list[str], timeout: float = 300.0, **kwargs: Any
             ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          check=False, **kwargs)
    assert done.returncode == 0, f"{command[0]} failed ({done.returncode}): {done.stderr}"
    return done


def openssh_upload(port: int, account: Account, local: Path, name: str,
                   temp: str | None = None) -> None:
    """OpenSSH sftp in batch mode."""
    if temp is None:
        commands = [f'put "{local}" "inbox/{name}"']
    else:
        commands = [f'put "{local}" "inbox/{temp}"', f'rename "inbox/{temp}" "inbox/{name}"']
    done = openssh_batch(port, account, commands)
    assert done.returncode == 0, f"sftp failed: {done.stderr}"


def scp_upload(port: int, account: Account, local: Path, name: str,
               temp: str | None = None) -> None:
    """OpenSSH scp, which speaks the SFTP protocol since OpenSSH 9.0.  scp cannot rename, so
    ``temp`` just uploads under that name."""
    _checked(["scp", "-s", "-P", str(port), "-i", str(account.key_file), *OPENSSH_OPTIONS,
              str(local), f"{account.name}@127.0.0.1:inbox/{temp or name}"])


def paramiko_upload(port: int, account: Account, local: Path, name: str,
                    temp: str | None = None) -> None:
    """paramiko's put (confirming the size by stat), then posix-rename when ``temp``."""
    client, sftp = paramiko_session(port, account)
    try:
        sftp.put(str(local), f"inbox/{temp or name}", confirm=True)
        if temp is not None:
            sftp.posix_rename(f"inbox/{temp}", f"inbox/{name}")
    finally:
        sftp.close()
        client.close()


async def asyncssh_sftp(port: int, account: Account, sftp_version: int = 3
                        ) -> tuple[asyncssh.SSHClientConnection, asyncssh.SFTPClient]:
    """An asyncssh SFTP session authenticated by the account's key."""
    conn = await asyncssh.connect("127.0.0.1", port, username=account.name,
                                  client_keys=[str(account.key_file)], known_hosts=None,
                                  agent_path=None)
    return conn, await conn.start_sftp_client(sftp_version=sftp_version)


def asyncssh_upload(port: int, account: Account, local: Path, name: str,
                    temp: str | None = None) -> None:
    """asyncssh's parallel put, then rename when ``temp``."""

    async def run() -> None:
        conn, sftp = await asyncssh_sftp(port, account)
        async with conn:
            await sftp.put(str(local), f"inbox/{temp or name}")
            if temp is not None:
                await sftp.rename(f"inbox/{temp}", f"inbox/{name}")

    asyncio.run(run())


def lftp_upload(port: int, account: Account, local: Path, name: str,
                temp: str | None = None) -> None:
    """lftp over OpenSSH; with ``temp`` (a leading-dot pattern such as ``.in.*``) lftp
    uploads to that temporary name and renames it itself (xfer:use-temp-file)."""
    lftp_run(port, account, [f'put "{local}" -o "inbox/{name}"'], temp)


def lftp_run(port: int, account: Account, commands: list[str],
             temp: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run lftp ``commands`` in one session over OpenSSH, stopping at the first that fails;
    with ``temp``, uploads go to that temporary name and lftp renames them."""
    ssh = " ".join(["ssh", "-a", "-x", "-i", str(account.key_file), *OPENSSH_OPTIONS])
    settings = [f'set sftp:connect-program "{ssh}"', "set cmd:fail-exit yes",
                "set net:max-retries 1", "set xfer:clobber yes"]
    if temp is not None:
        settings += ["set xfer:use-temp-file yes", f'set xfer:temp-file-name "{temp}"']
    script = "; ".join([*settings, f"open -u {account.name}, -p {port} sftp://127.0.0.1",
                        *commands])
    return _checked(["lftp", "-c", script])


def rclone_upload(port: int, account: Account, local: Path, name: str,
                  temp: str | None = None) -> None:
    """rclone's sftp backend (no shell commands: the gateway offers none).  rclone 1.60 has
    no temp-name mode, so ``temp`` just uploads under that name."""
    remote = (f":sftp,host=127.0.0.1,port={port},user={account.name},"
              f"key_file={account.key_file},shell_type=none,disable_hashcheck=true:")
    _checked(["rclone", "copyto", "--config", os.devnull, "--low-level-retries", "1",
              "--retries", "1", str(local), f"{remote}inbox/{temp or name}"])


def curl_upload(port: int, account: Account, local: Path, name: str,
                temp: str | None = None) -> None:
    """curl's sftp:// (libssh2; password login, host key not checked); with ``temp`` the
    rename is a post-transfer quote command in the same session."""
    rename = [] if temp is None else ["-Q", f"-rename /inbox/{temp} /inbox/{name}"]
    _checked(["curl", "--silent", "--show-error", "--insecure",
              "--user", f"{account.name}:{account.password}", "-T", str(local), *rename,
              f"sftp://127.0.0.1:{port}/inbox/{temp or name}"])


def psftp_upload(port: int, account: Account, local: Path, name: str,
                 temp: str | None = None) -> None:
    """PuTTY's psftp in batch mode, pinning the gateway's host key by its SHA-256
    fingerprint (read from the gateway first, as a vendor copies it from the operator)."""
    commands = [f'put "{local}" "/inbox/{temp or name}"']
    if temp is not None:
        commands.append(f'mv "/inbox/{temp}" "/inbox/{name}"')
    with tempfile.NamedTemporaryFile("w", suffix=".psftp") as script:
        script.write("\n".join(commands) + "\n")
        script.flush()
        pins = [option for fingerprint in _host_key_fingerprints(port)
                for option in ("-hostkey", fingerprint)]
        _checked(["psftp", "-batch", "-P", str(port), "-l", account.name,
                  "-pw", account.password, *pins, "-b", script.name, "127.0.0.1"],
                 stdin=subprocess.DEVNULL)


def _host_key_fingerprints(port: int) -> list[str]:
    """The SHA-256 fingerprints of the gateway's host keys, one per key type."""
    async def fetch(algorithm: str) -> str:
        key = await asyncssh.get_server_host_key("127.0.0.1", port,
                                                 server_host_key_algs=[algorithm])
        assert key is not None
        return str(key.get_fingerprint("sha256"))

    return [asyncio.run(fetch(algorithm))
            for algorithm in ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-256")]


JSCH_JAR = Path("/usr/share/java/jsch.jar")
"""Debian's libjsch-java: the original JSch, as most Java SIS integrations embed it."""
CLIENT_SOURCES = REPO / "tests" / "integration" / "clients"


def jsch_upload(port: int, account: Account, local: Path, name: str,
                temp: str | None = None) -> None:
    """JSch's ChannelSftp put (then rename when ``temp``), run from source by java."""
    names = [f"/inbox/{name}", *([f"/inbox/{temp}"] if temp is not None else [])]
    _checked(["java", "-cp", str(JSCH_JAR), str(CLIENT_SOURCES / "JschUpload.java"),
              "127.0.0.1", str(port), account.name, account.password, str(local), *names])


def go_client(folder: Path) -> Path:
    """Build the Go client (x/crypto/ssh and pkg/sftp from Debian's packages: no module
    download) into ``folder``; returns the program."""
    program = folder / "goupload"
    environment = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
                   "GOCACHE": str(folder / "gocache"), "GOFLAGS": ""}
    _checked(["go", "build", "-o", str(program), "."], env=environment,
             cwd=CLIENT_SOURCES / "goupload")
    return program


def go_upload(program: Path, port: int, account: Account, local: Path, name: str,
              temp: str | None = None) -> None:
    """Go's x/crypto/ssh with pkg/sftp (built by :func:`go_client`)."""
    names = [f"/inbox/{name}", *([f"/inbox/{temp}"] if temp is not None else [])]
    _checked([str(program), f"127.0.0.1:{port}", account.name, account.password, str(local),
              *names])
