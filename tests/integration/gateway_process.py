"""The real gateway as a subprocess (``python -m gateway serve``) for end-to-end tests.

Tests drive it exactly as operators do: a TOML config file, the data dir, signals.  Its
Canvas is a sandbox on loopback and its mail server an aiosmtpd on loopback, both run by the
test so they outlive gateway crashes and restarts.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncssh
from argon2 import PasswordHasher

from gateway.state.postgres import PostgresDatabase
from gateway.state.store import Store
from tests.integration.mail_server import free_port
from tests.s3_server import S3Server

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Account:
    """An institution's SFTP login as the test uses it: password and an OpenSSH key file."""

    name: str
    password: str
    key_file: Path
    public_key: str


def make_account(name: str, folder: Path) -> Account:
    """Create an institution login with a fresh ed25519 key written for OpenSSH clients."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = folder / f"{name}_ed25519"
    key_file.write_bytes(key.export_private_key())
    key_file.chmod(0o600)
    public = key.export_public_key().decode().strip()
    return Account(name, f"{name}-secret-password", key_file, public)


@dataclass
class GatewayProcess:
    """One gateway data dir and config; start, kill and restart the daemon on it."""

    root: Path
    sandbox_url: str
    smtp_port: int
    accounts: list[Account]
    token: str = "test-canvas-token"
    quiet_seconds: float = 0.5
    sftp_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    sftp_options: list[str] = field(default_factory=list)
    """Extra ``[sftp]`` lines (``ban_failures = 3``)."""
    http_options: list[str] = field(default_factory=list)
    """Extra ``[http]`` lines (``request_timeout_seconds = 1``)."""
    intake_options: dict[str, list[str]] = field(default_factory=dict)
    """Extra ``[institutions.<name>]`` lines by account name (``max_file_bytes = 10``)."""
    forwarding_options: list[str] = field(default_factory=lambda: [
        "request_timeout_seconds = 5", "reconcile_grace_seconds = 1",
        "errors_file_wait_seconds = 5"])
    """``[forwarding]`` lines beyond the polling and retry times."""
    extra_config: list[str] = field(default_factory=list)
    """Lines at the end of the config (``[[webhooks]]`` tables)."""
    password_hasher: PasswordHasher = field(default_factory=PasswordHasher)
    """Hashes the accounts' passwords (argon2's defaults; load tests may want cheaper)."""
    canvas_accounts: dict[str, str] = field(default_factory=dict)
    """The sandbox account of each institution by account name (default ``"1"``, with the
    token in ``TEST_CANVAS_TOKEN``); account N's token is read from ``TEST_CANVAS_TOKEN_N``
    (set it in ``env``)."""
    host_key_file: Path | None = None
    """A private host key to serve (``[sftp] host_key_files``): cluster nodes need one."""
    file_size_limit: int | None = None
    """RLIMIT_FSIZE for the daemon (``ulimit -f``): writes past it fail like a full disk."""
    database_url: str | None = None
    """Cluster mode's PostgreSQL store (set by :func:`as_cluster_node`): ``store()`` reads it."""
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _shared_store: Store | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def config_path(self) -> Path:
        return self.root / "gateway.toml"

    @property
    def log_path(self) -> Path:
        return self.root / f"gateway-{self.starts}.log"

    def write_config(self) -> None:
        hasher = self.password_hasher
        lines = [
            f'data_dir = "{self.data_dir}"',
            "[sftp]", 'host = "127.0.0.1"', f"port = {self.sftp_port}", *self.sftp_options,
            *([f'host_key_files = ["{self.host_key_file}"]'] if self.host_key_file else []),
            "[http]", 'host = "127.0.0.1"', f"port = {self.http_port}", *self.http_options,
            "[batching]", f"quiet_seconds = {self.quiet_seconds}",
            "[forwarding]", "poll_initial_seconds = 0.2", "poll_max_seconds = 1.0",
            "retry_initial_seconds = 0.5", "retry_max_seconds = 2.0", *self.forwarding_options,
            "[mail]", 'sender = "gateway@test.example"', 'ops = ["ops@test.example"]',
            "[mail.smtp]", 'host = "127.0.0.1"', f"port = {self.smtp_port}",
            'security = "plain"', "timeout_seconds = 5",
        ]
        for account in self.accounts:
            lines += [
                f"[institutions.{account.name}]",
                f'password_hash = "{hasher.hash(account.password)}"',
                f'authorized_keys = ["{account.public_key}"]',
                f'report_to = ["registrar@{account.name}.example"]',
                *self.intake_options.get(account.name, []),
                f"[institutions.{account.name}.canvas]",
                f'base_url = "{self.sandbox_url}"',
                *self._canvas_account(account.name),
            ]
        self.config_path.write_text("\n".join([*lines, *self.extra_config]) + "\n")

    def _canvas_account(self, name: str) -> list[str]:
        account = self.canvas_accounts.get(name)
        if account is None:
            return ['account_id = "1"', 'token_env = "TEST_CANVAS_TOKEN"']
        return [f'account_id = "{account}"', f'token_env = "TEST_CANVAS_TOKEN_{account}"']

    def start(self, timeout: float = 30.0) -> None:
        """Start the daemon and wait until it says it is ready."""
        if not self.config_path.exists():
            self.write_config()
        self.starts += 1
        env = {**os.environ, "TEST_CANVAS_TOKEN": self.token, "PYTHONUNBUFFERED": "1",
               **self.env}
        with open(self.log_path, "wb") as log:
            limit = [] if self.file_size_limit is None else [  # util-linux, always present
                "prlimit", f"--fsize={self.file_size_limit}"]
            self.process = subprocess.Popen(
                [*limit, sys.executable, "-m", "gateway", "serve", "--config",
                 str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        wait_for(lambda: b"gateway ready" in self.log_path.read_bytes(), timeout,
                 f"gateway start (log {self.log_path})", self._check_alive)

    def reload(self) -> None:
        """SIGHUP, as ``gateway reload`` sends it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"gateway exited with {self.process.returncode}:\n"
                                 + self.log_path.read_text(errors="replace")[-3000:])

    def kill(self) -> None:
        """SIGKILL: the crash no code can react to."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stop(self) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(20)
        self.process = None
        return code

    def store(self) -> Store:
        """The gateway's store as an operator's command sees it: the data dir's SQLite, or
        (cluster mode) the PostgreSQL database, opened once and kept for the test."""
        if self.database_url is None:
            return Store(self.data_dir / "state.db")
        if self._shared_store is None:
            self._shared_store = Store(PostgresDatabase(self.database_url, connections=2))
        return self._shared_store

    def close_store(self) -> None:
        """Close the PostgreSQL store ``store()`` opened, if any."""
        if self._shared_store is not None:
            self._shared_store.close()
            self._shared_store = None

    def logs(self) -> str:
        return "".join((self.root / f"gateway-{n}.log").read_text(errors="replace")
                       for n in range(1, self.starts + 1))


def as_cluster_node(process: GatewayProcess, *, database_url: str, objects: S3Server,
                    node: str = "node-a", lease_seconds: float = 2.0,
                    prefix: str | None = None, host_key: Path | None = None) -> GatewayProcess:
    """Configure ``process`` (not started) as a cluster node: the store in the PostgreSQL
    database at ``database_url``, payloads in the S3 server's bucket under ``prefix`` (one of
    its own unless given: nodes of one cluster share theirs), the host key every node shares
    (``host_key``, else one made in the process's root), and a short lease so a restarted
    node takes its institutions back quickly."""
    process.database_url = database_url
    process.host_key_file = host_key or make_host_key(process.root)
    process.env.update(TEST_DATABASE_URL=database_url, TEST_S3_KEY=objects.access_key,
                       TEST_S3_SECRET=objects.secret_key)
    process.extra_config += [
        "[cluster]", 'database_url_env = "TEST_DATABASE_URL"', f'node_name = "{node}"',
        f"lease_seconds = {lease_seconds}", "[cluster.objects]", f'bucket = "{objects.bucket}"',
        f'endpoint_url = "{objects.endpoint_url}"',
        f'prefix = "{prefix or f"node-{secrets.token_hex(4)}"}"',
        'access_key_id_env = "TEST_S3_KEY"', 'secret_access_key_env = "TEST_S3_SECRET"']
    return process


def wait_for(condition: Callable[[], T], timeout: float, what: str,
             check: Callable[[], None] | None = None) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check is not None:
            check()
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def make_host_key(folder: Path) -> Path:
    """A private ed25519 host key file (mode 0600), as a secret mount gives every node."""
    path = folder / "ssh_host_ed25519_key"
    if not path.exists():
        path.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
        path.chmod(0o600)
    return path
