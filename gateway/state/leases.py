"""Nodes and per-institution leases in the store: who may act for an institution now.

Cluster mode only.  A lease row (institution, owner, epoch, expires_at) says which node
sorts, forwards and reports for an institution until when; the epoch grows by one at every
change of hands, so work begun under an older epoch can be told from work under the
current one.  Every time here is the database's own clock (``Database.clock``), never a
node's: a node whose clock is skewed, or that was paused, cannot stretch its lease.

:class:`LeaseBook` is this node's view (what it holds, under which epoch); the store's
transactions check it against the lease rows (:meth:`LeaseTable.confirm`) before each write
for an institution, so a node that lost a lease (paused past it, cut off) writes nothing:
the transaction raises :class:`LeaseLost` and rolls back.  On one machine there is no book
and no check: every institution is always held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from gateway.state.database import Database, Session


class LeaseLost(Exception):  # noqa: N818 (a condition, like StoreUnavailable)
    """This node no longer holds the institution's lease (or no longer under the epoch it
    acted under): the transaction was rolled back and the work must be dropped; the
    lease's new holder redoes it from the store.  Runners catch it before their generic
    error handling, whose retries and holds would be writes for the institution too."""


def log_dropped(error: LeaseLost, **fields: object) -> None:
    """The one log line for work dropped on a lost lease (no traceback: not a fault)."""
    logging.getLogger("gateway.cluster").info("work dropped: lease lost",
                                              extra={**fields, "reason": str(error)})


@dataclass(frozen=True)
class Lease:
    """One lease row; ``owner`` None: released (free for the next holder)."""

    institution: str
    owner: str | None
    epoch: int
    expires_at: float


class LeaseBook:
    """The leases this node holds, by institution, with their epochs: written by the lease
    keeper, read by the runners (which act only on held institutions) and by the store's
    fence.  Thread-safe.

    Each lease also has a local deadline on this process's monotonic clock, taken *before*
    the request that took or renewed it, so it never outlasts the database's expiry: past
    it the book says "not held" at once, without asking the database.  That matters for
    what the database cannot fence (an e-mail, a POST): a node resuming from a pause
    starts no such work, even before its keeper's next round."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._epochs: dict[str, int] = {}
        self._until: dict[str, float] = {}
        self._pinned: ContextVar[tuple[str, int | None] | None] = ContextVar(
            f"lease-pinned-{node}", default=None)

    def holds(self, institution: str) -> bool:
        """Whether this node holds ``institution`` and its local deadline has not passed
        (the store's fence has the last word on writes)."""
        return self.epoch(institution) is not None

    def epoch(self, institution: str) -> int | None:
        """The epoch this node holds ``institution`` under, or None (also once its local
        deadline has passed)."""
        with self._lock:
            if time.monotonic() >= self._until.get(institution, 0.0):
                return None
            return self._epochs.get(institution)

    def held(self) -> dict[str, int]:
        """A copy of what the keeper took and has not dropped (deadline passed or not):
        institution -> epoch."""
        with self._lock:
            return dict(self._epochs)

    def acting(self, institution: str) -> AbstractContextManager[None]:
        """The epoch held now for ``institution`` (None: not held), pinned for the work
        decided now: entered where that work runs, the fence checks that epoch, not the
        book's current one (see gateway.runner.Holdings)."""
        return self._pin(institution, self.epoch(institution))

    @contextmanager
    def _pin(self, institution: str, epoch: int | None) -> Iterator[None]:
        token = self._pinned.set((institution, epoch))
        try:
            yield
        finally:
            self._pinned.reset(token)

    def acted_under(self, institution: str) -> int | None:
        """The epoch the current work acts under for ``institution``: the pinned one if
        this work pinned one for it, else the one held now."""
        pinned = self._pinned.get()
        if pinned is not None and pinned[0] == institution:
            return pinned[1]
        return self.epoch(institution)

    def gain(self, institution: str, epoch: int, until: float) -> None:
        """Enter a lease taken under ``epoch``, held locally until monotonic ``until``."""
        with self._lock:
            self._epochs[institution] = epoch
            self._until[institution] = until

    def renewed(self, institutions: Iterable[str], until: float) -> None:
        """Move the local deadline of ``institutions`` (renewed) to ``until``."""
        with self._lock:
            for institution in institutions:
                if institution in self._epochs:
                    self._until[institution] = until

    def drop(self, institution: str) -> None:
        with self._lock:
            self._epochs.pop(institution, None)
            self._until.pop(institution, None)


_RENEW_CHUNK = 500
"""Leases renewed by one statement (bound parameters stay well under the engines' limits)."""


class LeaseTable:
    """The ``nodes`` and ``leases`` tables on ``database``; every call is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._now = database.clock

    def heartbeat(self, node: str) -> float:
        """Record that ``node`` is alive now; returns the database's time."""
        with self._db.transaction() as session:
            session.execute(
                f"INSERT INTO nodes (name, started_at, heartbeat_at) VALUES (?, {self._now},"
                f" {self._now}) ON CONFLICT (name) DO UPDATE SET heartbeat_at ="
                " excluded.heartbeat_at", (node,))
            return float(session.execute(f"SELECT {self._now}").fetchone()[0])

    def live_nodes(self, ttl: float) -> list[str]:
        """The nodes whose last heartbeat is younger than ``ttl`` seconds, by name."""
        rows = self._db.rows(f"SELECT name FROM nodes WHERE heartbeat_at > {self._now} - ?"
                             " ORDER BY name", (ttl,))
        return [str(row[0]) for row in rows]

    def leases(self) -> list[Lease]:
        """Every lease row, by institution."""
        rows = self._db.rows("SELECT institution, owner, epoch, expires_at FROM leases"
                             " ORDER BY institution")
        return [Lease(str(r[0]), r[1], int(r[2]), float(r[3])) for r in rows]

    def acquire(self, institution: str, node: str, ttl: float) -> int | None:
        """Take ``institution``'s lease for ``ttl`` seconds if it is free, released or
        expired; returns the new epoch (the old one + 1), or None when another node holds
        it (or this node already does, unexpired: renew that instead)."""
        with self._db.transaction() as session:
            row = session.execute(
                f"INSERT INTO leases (institution, owner, epoch, expires_at) VALUES (?, ?, 1,"
                f" {self._now} + ?) ON CONFLICT (institution) DO UPDATE SET owner ="
                " excluded.owner, epoch = leases.epoch + 1, expires_at = excluded.expires_at"
                f" WHERE leases.owner IS NULL OR leases.expires_at <= {self._now}"
                " RETURNING epoch", (institution, node, ttl)).fetchone()
        return int(row[0]) if row is not None else None

    def renew(self, node: str, held: Mapping[str, int], ttl: float) -> set[str]:
        """Extend the leases ``held`` (institution -> epoch) by ``ttl`` seconds from now;
        returns those still held.  An expired lease is not renewed, even if nobody took
        it: what was done meanwhile was not fenced by it (acquire it anew)."""
        kept: set[str] = set()
        names = sorted(held)
        with self._db.transaction() as session:
            for start in range(0, len(names), _RENEW_CHUNK):  # one statement per chunk
                chunk = names[start:start + _RENEW_CHUNK]
                marks = ", ".join("?" for _ in chunk)
                rows = session.execute(
                    f"UPDATE leases SET expires_at = {self._now} + ? WHERE owner = ?"
                    f" AND expires_at > {self._now} AND institution IN ({marks})"
                    " RETURNING institution, epoch", (ttl, node, *chunk)).fetchall()
                # An epoch other than the book's cannot be this node's work: not kept.
                kept.update(str(row[0]) for row in rows if held.get(str(row[0])) == int(row[1]))
        return kept

    def release(self, institution: str, node: str, epoch: int) -> bool:
        """Give ``institution`` up at once (a graceful hand-off: the next holder need not
        wait for the expiry); False when it was no longer this node's."""
        with self._db.transaction() as session:
            cursor = session.execute(
                "UPDATE leases SET owner = NULL, expires_at = 0 WHERE institution = ?"
                " AND owner = ? AND epoch = ?", (institution, node, epoch))
            return cursor.rowcount == 1

    def forget_node(self, node: str) -> None:
        """Remove ``node`` from the live nodes (an orderly stop)."""
        with self._db.transaction() as session:
            session.execute("DELETE FROM nodes WHERE name = ?", (node,))


class LeaseFence:
    """The check every fenced write makes, in its own transaction: this node still holds
    the institution's lease under the epoch in its book, unexpired by the database's
    clock.  The lease row is read with the engine's share lock, so no other node can take
    it over until the transaction ends (SQLite: its writers are serialized anyway)."""

    def __init__(self, book: LeaseBook, database: Database) -> None:
        self.book = book
        self._sql = ("SELECT 1 FROM leases WHERE institution = ? AND owner = ? AND epoch = ?"
                     f" AND expires_at > {database.clock}{database.share_lock}")

    def confirm(self, session: Session, institutions: Iterable[str]) -> None:
        """Raise LeaseLost unless every one of ``institutions`` is held."""
        for institution in institutions:
            epoch = self.book.acted_under(institution)
            if epoch is None or session.execute(
                    self._sql, (institution, self.book.node, epoch)).fetchone() is None:
                raise LeaseLost(f"node {self.book.node} no longer holds the lease of "
                                f"institution {institution} (epoch {epoch}); its work there"
                                " is dropped")
