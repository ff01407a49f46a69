"""The PostgreSQL adapter (cluster mode): a psycopg 3 connection pool, the same SQL as SQLite.

What differs from ``gateway.state.sqlite``, and only here: ``?`` placeholders become ``%s``
(so the shared SQL never holds a literal ``?``: values are always bound);
enum and bool parameters are sent as their stored values (text, integer); rows answer by name
and position; schema steps get PostgreSQL's column types (``BIGINT`` ids, ``DOUBLE PRECISION``
times: SQLite's ``REAL`` is 8 bytes, PostgreSQL's only 4); and a transaction runs at READ
COMMITTED, so a decision that reads before it writes takes :meth:`_Session.lock` (an
advisory lock held to the end of the transaction).  Compare-and-set moves need no lock:
``UPDATE ... WHERE state = ?`` re-checks the row after waiting for a concurrent writer, and
the row count says who won.

The database URL is a secret (it may hold a password): it is never logged or raised; the
adapter describes itself as ``postgresql://user@host:port/dbname``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Any

import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict

from gateway.state.database import Row, StoreUnavailable

log = logging.getLogger(__name__)

_LOCK_SPACE = 0x5153  # the first key of every advisory lock the gateway takes ("SQ")
_MIGRATION_LOCK = 1
_DECISION_LOCK = 3
_HOLD_LOCK = 4
WAKE_CHANNEL = "gateway_wake"
"""The LISTEN/NOTIFY channel of wake-ups between nodes (see StoreListener)."""
WAIT_SECONDS = 10.0
"""How long opening the store, and each later use, waits for a connection."""
_COLUMN_TYPES = ((re.compile(r"\bINTEGER PRIMARY KEY( AUTOINCREMENT)?"), "BIGSERIAL PRIMARY KEY"),
                 (re.compile(r"\bINTEGER\b"), "BIGINT"),
                 (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"))


class _Row(dict[str, Any]):
    """A row by column name (a dict) that also answers by position, like ``sqlite3.Row``."""

    __slots__ = ("_values",)

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        super().__init__(zip(names, values, strict=True))
        self._values = values

    def __getitem__(self, key: str | int) -> Any:
        return self._values[key] if isinstance(key, int) else super().__getitem__(key)


def _rows_of(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], _Row]:
    names = [column.name for column in cursor.description or ()]
    return functools.partial(_Row, names)


@functools.lru_cache(maxsize=512)
def _statement(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    return int(value) if isinstance(value, bool) else value


def _values(params: Sequence[Any]) -> list[Any]:
    return [_value(value) for value in params]


def _session_options(idle_transaction_seconds: float | None) -> dict[str, str]:
    """libpq's ``options`` for each pooled session (none when no limit is asked for)."""
    if idle_transaction_seconds is None:
        return {}
    milliseconds = max(1, round(idle_transaction_seconds * 1000))
    return {"options": f"-c idle_in_transaction_session_timeout={milliseconds}"}


def schema_statement(statement: str) -> str:
    """A schema step's statement with PostgreSQL's column types for SQLite's."""
    for pattern, replacement in _COLUMN_TYPES:
        statement = pattern.sub(replacement, statement)
    return statement


LIVENESS: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                            "keepalives_count": 3, "tcp_user_timeout": 15000,
                            "connect_timeout": 10}
"""libpq options for every connection: a silent network (a partition, a host that died)
ends it within about 15 s instead of the kernel's minutes to hours."""

TEXT: dict[str, Any] = {"client_encoding": "UTF8"}
"""libpq options for every connection that reads rows: text comes back as ``str`` whatever
the database's encoding.  psycopg returns ``bytes`` for every text column of a
``SQL_ASCII`` database (what ``initdb`` makes where no UTF-8 locale is set), and the
gateway would then compare ``b'node-a'`` with ``'node-a'``: no node would ever be live and
no lease taken, with no error anywhere.  The server does not convert from ``SQL_ASCII``,
and the gateway writes only UTF-8, so asking for UTF-8 is exact."""

_URI = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_UNENCODED = re.compile(r"[/?#@]")


def describe_url(url: str) -> str:
    """``postgresql://user@host:port/dbname``: the URL without its password (or any other
    option).  Raises StoreUnavailable, naming no part of it, when it cannot be parsed, or
    when its user or password holds an unencoded ``/ ? # @``: libpq would then read part
    of the password as the host or the database, and echo it in every error."""
    scheme = _URI.match(url)
    if scheme and "@" in url:
        userinfo = url[scheme.end():url.rindex("@")]
        if _UNENCODED.search(userinfo):
            raise StoreUnavailable(
                "the database URL's user or password holds a reserved character (/ ? # @): "
                "percent-encode it (/ as %2F, ? as %3F, # as %23, @ as %40)")
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        raise StoreUnavailable("the database URL cannot be parsed: check its syntax "
                               "(postgresql://user:password@host:port/dbname)") from None
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def _password(url: str) -> str | None:
    """The password in ``url`` (already checked by :func:`describe_url`), to scrub from
    the server's and libpq's messages."""
    value = conninfo_to_dict(url).get("password")
    return str(value) if value else None


class _Session:
    """A write transaction on one pooled connection."""

    def __init__(self, connection: psycopg.Connection[Any], where: str) -> None:
        self._db = connection
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        with _reachable(self._where):
            return self._db.execute(_statement(sql), _values(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with _reachable(self._where), self._db.cursor() as cursor:
            cursor.executemany(_statement(sql), [_values(row) for row in rows])

    def lock(self, key: str) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))",
                     (_LOCK_SPACE + _DECISION_LOCK, key))

    def notify(self, payload: str) -> None:
        self.execute("SELECT pg_notify(?, ?)", (WAKE_CHANNEL, payload))


class PostgresDatabase:
    """The PostgreSQL database at ``url``, through a pool of at most ``connections``."""

    dialect = "postgresql"
    # clock_timestamp(), not now(): a lease checked late in a long transaction is checked
    # against the time of the check, not of the transaction's start.
    clock = "EXTRACT(EPOCH FROM clock_timestamp())::DOUBLE PRECISION"
    share_lock = " FOR SHARE"

    def __init__(self, url: str, *, connections: int = 8, application: str = "sis-gateway",
                 wait_seconds: float = WAIT_SECONDS,
                 idle_transaction_seconds: float | None = None) -> None:
        """``idle_transaction_seconds``: the server ends a session whose transaction stays
        idle that long (cluster mode: the lease time), so a node paused (SIGSTOP) inside a
        transaction, holding a lease row ``FOR SHARE``, cannot keep the next holder from
        taking the lease; what that transaction wrote is rolled back."""
        self._where = describe_url(url)
        self._url = url
        _SECRETS.add(_password(url))
        self._local = threading.local()
        # One plain connection first: a refusal (wrong password, no such database) is
        # final, and its reason is worth more than the pool's retrying until a timeout.
        with _reachable(self._where):
            psycopg.connect(url, connect_timeout=max(1, round(wait_seconds))).close()
        self._pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=connections, open=False, name="gateway-store",
            timeout=wait_seconds, kwargs={"autocommit": True, "row_factory": _rows_of,
                                          "application_name": application, **LIVENESS, **TEXT,
                                          **_session_options(idle_transaction_seconds)})
        try:
            self._pool.open(wait=True, timeout=wait_seconds)
        except psycopg_pool.PoolTimeout:
            self._pool.close()
            raise StoreUnavailable(f"{self._where}: no connection within "
                                   f"{wait_seconds:.0f}s") from None

    def describe(self) -> str:
        return self._where

    def hint(self, index: str) -> str:
        return ""

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        if getattr(self._local, "connection", None) is not None:
            raise RuntimeError("store transactions do not nest")
        with _reachable(self._where), self._pool.connection() as connection, \
                connection.transaction():
            self._local.connection = connection
            try:
                yield _Session(connection, self._where)
            finally:
                self._local.connection = None

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """An advisory lock taken in a transaction of its own, on a pooled connection other
        than this thread's store transaction (which the block may open meanwhile); the
        transaction's end, or the connection's loss when the node dies, releases it."""
        with _reachable(self._where), self._pool.connection() as connection, \
                connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                               (_LOCK_SPACE + _HOLD_LOCK, key))
            yield

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        current: psycopg.Connection[Any] | None = getattr(self._local, "connection", None)
        with _reachable(self._where):
            if current is not None:
                return list(current.execute(_statement(sql), _values(params)).fetchall())
            with self._pool.connection() as connection:
                return list(connection.execute(_statement(sql), _values(params)).fetchall())

    def migrate(self, steps: Sequence[str]) -> None:
        """Apply the missing steps, each in its own transaction, under a session advisory
        lock: nodes starting together wait for each other and the first one migrates."""
        with _reachable(self._where), self._pool.connection() as connection:
            connection.execute("SELECT pg_advisory_lock(%s, 0)",
                               (_LOCK_SPACE + _MIGRATION_LOCK,))
            try:
                self._migrate_locked(connection, steps)
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s, 0)",
                                   (_LOCK_SPACE + _MIGRATION_LOCK,))

    @staticmethod
    def _migrate_locked(connection: psycopg.Connection[Any], steps: Sequence[str]) -> None:
        with connection.transaction():
            connection.execute("CREATE TABLE IF NOT EXISTS schema_version"
                               " (version BIGINT NOT NULL)")
            connection.execute("INSERT INTO schema_version (version) SELECT 0"
                               " WHERE NOT EXISTS (SELECT 1 FROM schema_version)")
        row = connection.execute("SELECT version FROM schema_version").fetchone()
        version = int(row[0]) if row else 0
        for number, step in enumerate(steps[version:], start=version + 1):
            with connection.transaction():
                for statement in filter(str.strip, step.split(";")):
                    connection.execute(schema_statement(statement))
                connection.execute("UPDATE schema_version SET version = %s", (number,))

    def listen(self, on_payload: Callable[[str], None]) -> StoreListener:
        """Call ``on_payload`` (on a thread of its own) with each wake-up another node's
        committed transaction sends (Session.notify), until the listener is closed."""
        return StoreListener(self._url, self._where, on_payload)

    def close(self) -> None:
        self._pool.close()


class StoreListener:
    """A LISTEN on its own connection and thread.  Wake-ups are hints: a runner that misses
    one (the connection was lost and is being made again) still finds its work by polling,
    so errors are logged and the listener reconnects after a second."""

    def __init__(self, url: str, where: str, on_payload: Callable[[str], None]) -> None:
        self._url, self._where, self._on_payload = url, where, on_payload
        self._stop = threading.Event()
        self.listening = threading.Event()
        """Set once the LISTEN is in place (tests wait for it)."""
        self._thread = threading.Thread(target=self._run, name="store-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, **LIVENESS, **TEXT,
                                     application_name="sis-gateway listener") as connection:
                    connection.execute(f"LISTEN {WAKE_CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for message in connection.notifies(timeout=0.5):
                            self._on_payload(message.payload)
            except psycopg.Error as error:
                log.warning("store wake-ups interrupted; polling meanwhile",
                            extra={"database": self._where, "reason": type(error).__name__})
                self._stop.wait(1.0)

    def close(self) -> None:
        """Stop listening (within half a second)."""
        self._stop.set()
        self._thread.join()


_SECRETS: set[str | None] = set()
"""Database passwords of this process's stores: never in a StoreUnavailable message."""


@contextmanager
def _reachable(where: str) -> Iterator[None]:
    """Raise StoreUnavailable for a lost or refused connection (also one the server ended
    for idling in a transaction), or an exhausted pool; constraint and SQL errors are the
    caller's and pass through."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.errors.IdleInTransactionSessionTimeout,
            psycopg_pool.PoolTimeout) as error:
        reason = " ".join(str(error).split())  # libpq's reasons span lines
        for secret in _SECRETS:
            if secret:
                reason = reason.replace(secret, "***")
        raise StoreUnavailable(f"{where}: {reason}") from error
