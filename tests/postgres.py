"""A real PostgreSQL for the tests: Debian's server binaries, on a free loopback port.

One server per test session (``initdb`` + ``pg_ctl``, as the ``postgres`` user when the tests
run as root, since initdb refuses root; fsync off: a crash of the test server loses nothing
that matters), one migrated template database, and a fresh database per test copied from it
(``CREATE DATABASE ... TEMPLATE``: milliseconds, not a migration each time).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from gateway.state.postgres import PostgresDatabase
from gateway.state.store import Store

TEMPLATE = "gateway_template"
USER = "gateway"
PASSWORD = "test-only-password-7f3a"


def server_binaries() -> Path:
    """The newest installed ``/usr/lib/postgresql/<version>/bin``; AssertionError when
    PostgreSQL is not installed (``.ci/run`` installs Debian's ``postgresql``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parent.parent.name))
    assert found, "PostgreSQL is not installed: apt-get install postgresql (see .ci/run)"
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temp dir, password-authenticated on loopback."""

    def __init__(self) -> None:
        self.bin = server_binaries()
        self.root = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        self.port = _free_port()
        self._names = itertools.count(1)
        self._version_num: int | None = None

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        secret = self.root / "password"
        secret.write_text(PASSWORD)
        if os.geteuid() == 0:
            shutil.chown(secret, "postgres", "postgres")
        self._run("initdb", "-D", str(self.root / "data"), "-U", USER, "-E", "UTF8",
                  "--auth=scram-sha-256", f"--pwfile={secret}", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                   " -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log"),
                  "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _version(self) -> int:
        """The server's ``server_version_num`` (150000 for 15.0), asked once."""
        if self._version_num is None:
            with psycopg.connect(self.url(), autocommit=True) as connection:
                row = connection.execute("SHOW server_version_num").fetchone()
            self._version_num = int(row[0]) if row else 0
        return self._version_num

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(sql)

    def make_template(self) -> None:
        """A database with every schema step applied, for the per-test copies."""
        self.admin(f"CREATE DATABASE {TEMPLATE}")
        Store(PostgresDatabase(self.url(TEMPLATE), connections=1)).close()

    def fresh_database(self) -> str:
        """A new database copied from the template; returns its URL.  FILE_COPY: copying the
        template's files (with a checkpoint, cheap with fsync off) is quicker than WAL_LOG,
        PostgreSQL 15's default, which writes every block of it through the WAL."""
        name = f"test_{next(self._names)}"
        strategy = " STRATEGY FILE_COPY" if self._version() >= 150000 else ""  # before: no choice
        self.admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}{strategy}")
        return self.url(name)


    def empty_database(self) -> str:
        """A new database with no gateway schema (for tests of schema steps); its URL."""
        name = f"test_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)


def running_server() -> Iterator[PostgresServer]:
    """Start a server (with its template), yield it, stop it."""
    server = PostgresServer()
    server.start()
    try:
        server.make_template()
        yield server
    finally:
        server.stop()
