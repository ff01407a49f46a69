"""What the SFTP listeners of a cluster share about who may log in: failed logins and bans by
address (``login_failures``, ``address_bans``) and live sessions per institution
(``live_sessions``), so a ban on one node holds on the others and ``max_sessions`` counts
every node's sessions.

Every table is bounded by expiry: failures older than the ban window, bans that ended and
sessions whose node stopped refreshing them (a dead node) are deleted by any node's
:meth:`GuardRows.exchange` or :meth:`GuardRows.keep_alive`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.state.database import Database, Session

MAX_ADDRESSES_READ = 10_000
"""Addresses with failures read back per exchange at most (those with the most first)."""

_BAN = ("INSERT INTO address_bans (address, banned_until, bans) VALUES (?, ?, ?)"
        " ON CONFLICT (address) DO UPDATE SET"
        " banned_until = CASE WHEN excluded.banned_until > address_bans.banned_until"
        " THEN excluded.banned_until ELSE address_bans.banned_until END,"
        " bans = CASE WHEN excluded.bans > address_bans.bans THEN excluded.bans"
        " ELSE address_bans.bans END")


@dataclass(frozen=True)
class Ban:
    """An address refused until ``until`` (wall clock), its ``count``-th ban."""

    address: str
    until: float
    count: int


@dataclass(frozen=True)
class SharedView:
    """What the other nodes know: bans in force, and failures within the window by address
    (this node's own not included)."""

    bans: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)


class GuardRows:
    """Node ``node``'s view of the shared login tables on ``database``."""

    def __init__(self, database: Database, node: str) -> None:
        self._db = database
        self.node = node

    def exchange(self, failures: Sequence[tuple[str, float]], bans: Sequence[Ban], *,
                 now: float, window: float) -> SharedView:
        """Write this node's new ``failures`` (address, time) and ``bans``, drop what
        expired, and read back what every node knows, in one transaction."""
        with self._db.transaction() as session:
            session.executemany("INSERT INTO login_failures (address, node, at)"
                                " VALUES (?, ?, ?)",
                                [(address, self.node, at) for address, at in failures])
            for ban in bans:
                session.execute(_BAN, (ban.address, ban.until, ban.count))
                # Failures that led to a ban are spent: they must not ban again at once.
                session.execute("DELETE FROM login_failures WHERE address = ? AND at <= ?",
                                (ban.address, ban.until))
            _expire(session, now, window)
        active = self._db.rows("SELECT address, banned_until FROM address_bans"
                               " WHERE banned_until > ?", (now,))
        counted = self._db.rows(
            "SELECT address, count(*) AS failures FROM login_failures WHERE at >= ? AND"
            " node <> ? GROUP BY address ORDER BY failures DESC LIMIT ?",
            (now - window, self.node, MAX_ADDRESSES_READ))
        return SharedView({str(row[0]): float(row[1]) for row in active},
                          {str(row[0]): int(row[1]) for row in counted})

    def enter(self, token: str, institution: str, limit: int, *, now: float,
              expires_at: float) -> bool:
        """Count session ``token`` of ``institution`` unless ``limit`` live sessions (on
        any node) already are; True when counted."""
        with self._db.transaction() as session:
            session.lock(f"sessions:{institution}")  # count and insert as one decision
            row = session.execute("SELECT count(*) FROM live_sessions WHERE institution = ?"
                                  " AND expires_at >= ?", (institution, now)).fetchone()
            if int(row[0]) >= limit:
                return False
            session.execute("INSERT INTO live_sessions (node, token, institution, expires_at)"
                            " VALUES (?, ?, ?, ?)", (self.node, token, institution, expires_at))
        return True

    def leave(self, token: str) -> None:
        """Session ``token`` ended."""
        with self._db.transaction() as session:
            session.execute("DELETE FROM live_sessions WHERE node = ? AND token = ?",
                            (self.node, token))

    def keep_alive(self, *, now: float, expires_at: float) -> None:
        """Push this node's sessions' expiry to ``expires_at``; drop every expired one."""
        with self._db.transaction() as session:
            session.execute("UPDATE live_sessions SET expires_at = ? WHERE node = ?",
                            (expires_at, self.node))
            session.execute("DELETE FROM live_sessions WHERE expires_at < ?", (now,))

    def forget_node(self) -> None:
        """Drop this node's sessions (at start: a previous run's are gone)."""
        with self._db.transaction() as session:
            session.execute("DELETE FROM live_sessions WHERE node = ?", (self.node,))


def _expire(session: Session, now: float, window: float) -> None:
    session.execute("DELETE FROM login_failures WHERE at < ?", (now - window,))
    session.execute("DELETE FROM address_bans WHERE banned_until <= ?", (now,))
