"""Uploads being written on each node (``open_uploads``), for what every node must count:
an upload open anywhere holds back its institution's sorter, and its bytes so far count
against the institution's pending-bytes quota on every node.

A row is written when an upload opens and deleted when it ends (after its record is
committed, so there is never a moment with neither); its bytes and expiry are refreshed at a
bounded rate by the node that holds it (never per SFTP write).  A row whose node stopped
refreshing it expires: a dead node's uploads hold nothing back for long.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.state.database import Database


@dataclass(frozen=True)
class InFlight:
    """Uploads of one institution being written: how many, and their bytes so far."""

    uploads: int = 0
    bytes: int = 0


class OpenUploads:
    """The ``open_uploads`` rows of node ``node`` on ``database`` (and the others' counts)."""

    def __init__(self, database: Database, node: str) -> None:
        self._db = database
        self.node = node

    def add(self, token: str, institution: str, expires_at: float) -> None:
        """Record that upload ``token`` of ``institution`` opened on this node."""
        with self._db.transaction() as session:
            session.execute("INSERT INTO open_uploads (node, token, institution, bytes,"
                            " expires_at) VALUES (?, ?, ?, 0, ?)",
                            (self.node, token, institution, expires_at))

    def remove(self, token: str) -> None:
        """Upload ``token`` ended (received or not)."""
        with self._db.transaction() as session:
            session.execute("DELETE FROM open_uploads WHERE node = ? AND token = ?",
                            (self.node, token))

    def refresh(self, sizes: Iterable[tuple[str, int]], expires_at: float,
                now: float) -> None:
        """Set the bytes so far of this node's open uploads (``(token, bytes)``) and push
        their expiry to ``expires_at``, in one transaction; expired rows of any node go."""
        with self._db.transaction() as session:
            session.executemany("UPDATE open_uploads SET bytes = ?, expires_at = ?"
                                " WHERE node = ? AND token = ?",
                                [(size, expires_at, self.node, token)
                                 for token, size in sizes])
            session.execute("DELETE FROM open_uploads WHERE expires_at < ?", (now,))

    def forget_node(self) -> None:
        """Drop this node's rows (at start: what a previous run left is not being written)."""
        with self._db.transaction() as session:
            session.execute("DELETE FROM open_uploads WHERE node = ?", (self.node,))

    def elsewhere(self, institution: str, now: float) -> InFlight:
        """The institution's uploads open on other nodes and not expired."""
        rows = self._db.rows("SELECT count(*), COALESCE(SUM(bytes), 0) FROM open_uploads"
                             " WHERE institution = ? AND expires_at >= ? AND node <> ?",
                             (institution, now, self.node))
        return InFlight(int(rows[0][0]), int(rows[0][1])) if rows else InFlight()
