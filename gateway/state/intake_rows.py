"""The intake's tables on one database, the same SQL on both backends: what every node of a
cluster shares (trigger marks and refusals, the inbox's recent and hidden uploads, open
uploads, login failures, bans and sessions).  On one machine only the first two are used;
the rest stay in memory (see gateway.intake.service)."""

from __future__ import annotations

from gateway.state.database import Database
from gateway.state.guard_rows import GuardRows
from gateway.state.inbox_rows import InboxRows
from gateway.state.intake_marks import IntakeMarks
from gateway.state.open_uploads import OpenUploads


class IntakeRows:
    """The intake's tables on ``database``."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self.marks = IntakeMarks(database)
        """Trigger marks and checksum refusals (committed by their own writes)."""
        self.inbox = InboxRows(database)
        """Recent and hidden uploads, for the inbox every node shows (cluster mode)."""

    def open_uploads(self, node: str) -> OpenUploads:
        """The uploads being written on node ``node`` and the others (cluster mode)."""
        return OpenUploads(self._db, node)

    def guard(self, node: str) -> GuardRows:
        """Login failures, bans and live sessions node ``node`` shares (cluster mode)."""
        return GuardRows(self._db, node)
