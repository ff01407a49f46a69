"""The SQLite adapter (the default): one file in WAL mode, a connection per thread.

Every write transaction is ``BEGIN IMMEDIATE``: it takes the database's write lock first, so
writers are serialized and a read-then-write decision inside one cannot race.  WAL lets the
CLI read a running daemon's store safely.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.state.database import Row, StoreUnavailable


class _Session:
    """A write transaction on one SQLite connection."""

    def __init__(self, connection: sqlite3.Connection, where: str) -> None:
        self._db = connection
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with _reachable(self._where):
            return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with _reachable(self._where):
            self._db.executemany(sql, rows)

    def lock(self, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` holds the only write lock already."""

    def notify(self, payload: str) -> None:
        """Nothing to do: one machine's runners are woken in process."""


class SqliteDatabase:
    """The SQLite database at ``path``; safe to use from many threads and processes."""

    dialect = "sqlite"
    clock = "((julianday('now') - 2440587.5) * 86400.0)"
    share_lock = ""  # BEGIN IMMEDIATE: a reader inside a write transaction excludes writers

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def describe(self) -> str:
        return f"sqlite {self.path}"

    def hint(self, index: str) -> str:
        return f" INDEXED BY {index}"

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            with _reachable(self.describe()):
                connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                connection.row_factory = sqlite3.Row
                connection.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed transition survives a power cut, not just a crash.
                connection.execute("PRAGMA synchronous=FULL")
                connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        connection = self._connection()
        with _reachable(self.describe()):
            connection.execute("BEGIN IMMEDIATE")
        try:
            yield _Session(connection, self.describe())
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        with _reachable(self.describe()):
            connection.execute("COMMIT")

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Nothing to hold: one gateway process per data dir (its lock file)."""
        yield

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with _reachable(self.describe()):
            return self._connection().execute(sql, params).fetchall()

    def migrate(self, steps: Sequence[str]) -> None:
        """Apply the missing steps in one ``BEGIN IMMEDIATE`` transaction.  A store made
        before ``schema_version`` existed counted its steps in ``PRAGMA user_version``: that
        count is carried over."""
        with self.transaction() as session:
            session.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER"
                            " NOT NULL)")
            row = session.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                version = int(session.execute("PRAGMA user_version").fetchone()[0])
                session.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            else:
                version = int(row[0])
            for number, step in enumerate(steps[version:], start=version + 1):
                for statement in filter(str.strip, step.split(";")):
                    session.execute(statement)
                session.execute("UPDATE schema_version SET version = ?", (number,))

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


@contextmanager
def _reachable(where: str) -> Iterator[None]:
    """Raise StoreUnavailable for the errors that say the file cannot be used now (locked,
    unopenable, disk full); constraint errors are the caller's and pass through."""
    try:
        yield
    except sqlite3.OperationalError as error:
        raise StoreUnavailable(f"{where}: {error}") from error
