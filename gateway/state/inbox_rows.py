"""The inbox's memory of what was received, read from the store so every node shows the same
(cluster mode): uploads received lately in any state, and the ones a client removed from its
view (``hidden_uploads``).

A hidden row matters while its upload is waiting or recent; it is dropped ``keep_seconds``
after it was written unless its upload still waits (hiding never stops processing).
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.state.database import Database
from gateway.state.records import UploadRecord
from gateway.state.states import UploadState


class InboxRows:
    """Recent and hidden uploads on ``database`` (either backend, one SQL)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def recent(self, institution: str, since: float, limit: int) -> list[UploadRecord]:
        """The institution's uploads received at ``since`` or later (any state, not hidden),
        the newest ``limit`` of them, oldest first."""
        rows = self._db.rows(
            "SELECT * FROM uploads WHERE institution = ? AND received_at >= ? AND id NOT IN"
            " (SELECT upload_id FROM hidden_uploads WHERE institution = ?)"
            " ORDER BY id DESC LIMIT ?", (institution, since, institution, limit))
        return [UploadRecord.from_row(row) for row in reversed(rows)]

    def hide(self, institution: str, upload_ids: Iterable[int], *, now: float,
             keep_seconds: float) -> None:
        """Remember that a client removed these uploads from view; forget the hidden rows
        older than ``keep_seconds`` whose uploads no longer wait."""
        with self._db.transaction() as session:
            session.executemany(
                "INSERT INTO hidden_uploads (upload_id, institution, hidden_at)"
                " VALUES (?, ?, ?) ON CONFLICT (upload_id) DO NOTHING",
                [(upload_id, institution, now) for upload_id in upload_ids])
            session.execute(
                "DELETE FROM hidden_uploads WHERE institution = ? AND hidden_at < ? AND"
                " upload_id NOT IN (SELECT id FROM uploads WHERE institution = ? AND"
                " state = ?)", (institution, now - keep_seconds, institution,
                                UploadState.RECEIVED))

    def hidden_among(self, institution: str, upload_ids: Iterable[int]) -> set[int]:
        """Which of ``upload_ids`` a client removed from view."""
        wanted = set(upload_ids)
        if not wanted:
            return set()
        rows = self._db.rows("SELECT upload_id FROM hidden_uploads WHERE institution = ?",
                             (institution,))
        return {int(row[0]) for row in rows} & wanted
