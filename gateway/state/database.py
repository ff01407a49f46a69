"""The seam under the store: one small connection interface, two adapters (SQLite, PostgreSQL).

The store's queries are written once, in the SQL both engines accept, with ``?`` placeholders;
an adapter owns what differs: how a connection is opened and shared between threads, how a
write transaction begins, placeholders and parameter types, the row shape, schema steps'
column types, index hints, and which driver errors mean "the database cannot be reached"
(raised as :class:`StoreUnavailable`, so no caller sees a driver).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class StoreUnavailable(Exception):  # noqa: N818 (a condition, like TimeoutError's kin)
    """The store cannot be read or written now (locked, unreachable, out of space); the
    message says which database (never its password) and the driver's reason."""


class Row(Protocol):
    """One result row: by column name, or by position."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


class Cursor(Protocol):
    """What one statement returned: its rows (a SELECT, or ``RETURNING``) and its count."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


class Session(Protocol):
    """One open write transaction."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement with ``?`` placeholders."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        ...

    def lock(self, key: str) -> None:
        """Serialize read-then-write decisions about ``key`` until this transaction ends.
        (SQLite's ``BEGIN IMMEDIATE`` already serializes every writer.)"""
        ...

    def notify(self, payload: str) -> None:
        """Tell the other processes listening on this database (other cluster nodes) about
        ``payload`` when this transaction commits, and only then.  (SQLite: nothing; one
        machine wakes its runners in process.)"""
        ...


class Database(Protocol):
    """A connection adapter: the store's only way to its engine."""

    dialect: str
    """``sqlite`` or ``postgresql``."""

    clock: str
    """An SQL expression for the database server's own time in epoch seconds (leases are
    timed by it, so the nodes' clocks may disagree)."""

    share_lock: str
    """The clause that locks the rows a SELECT read until the transaction ends, against
    concurrent writers (`` FOR SHARE``), or nothing where every writer is serialized."""

    def transaction(self) -> AbstractContextManager[Session]:
        """One write transaction: committed when the block ends, rolled back if it raises.
        Reads made by this thread meanwhile (:meth:`rows`) see its writes."""
        ...

    def hold(self, key: str) -> AbstractContextManager[None]:
        """Hold a lock on ``key`` shared by every process on this database until the block
        ends (released too when the process dies).  Not reentrant across blocks: a block
        that holds ``key`` must not enter ``hold(key)`` again.  SQLite: nothing to hold,
        one process (the data dir's lock) is the only writer of intake facts."""
        ...

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """The rows of one SELECT (inside this thread's open transaction, if there is one)."""
        ...

    def hint(self, index: str) -> str:
        """A clause naming the index a query must use, where the engine takes such hints."""
        ...

    def migrate(self, steps: Sequence[str]) -> None:
        """Apply the schema steps not applied yet (``schema_version`` counts them), once
        even when several processes start together."""
        ...

    def describe(self) -> str:
        """Which database this is, for operators (no password)."""
        ...

    def close(self) -> None:
        """Release this thread's connection (SQLite) or every connection (PostgreSQL)."""
        ...
