"""The intake's durable facts about deliveries, in the store so every node sees them: trigger
marks and checksum refusals (``delivery_marks``, ``upload_refusals``).

* A *trigger mark* says "every upload up to id N is one complete delivery"; marks only grow.
* A *refusal* says "upload N must not be imported, for this reason"; refusals of uploads
  that are no longer waiting are dropped when the next one is recorded (the sorter has
  used them), so the table holds at most the waiting uploads.

Each write is its own committed store transaction, so it is durable before the caller
answers the SFTP client.  :meth:`IntakeMarks.holding` is the lock the sorter holds while it
forms a batch and the intake while it records a verdict: on PostgreSQL it is shared by every
node, so a verdict is never recorded for an upload another node's sorter has just taken.

Data dirs from before these tables kept the same facts as JSON files per institution
(``spool/intake/<institution>.json``); :meth:`IntakeMarks.import_files` moves them in
once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path

from gateway.state.database import Database
from gateway.state.states import UploadState

log = logging.getLogger(__name__)

# CASE, not SQLite's MAX(a, b) or PostgreSQL's GREATEST(a, b): one SQL for both.
_RELEASE = ("INSERT INTO delivery_marks (institution, released_through) VALUES (?, ?)"
            " ON CONFLICT (institution) DO UPDATE SET released_through = CASE WHEN"
            " excluded.released_through > delivery_marks.released_through THEN"
            " excluded.released_through ELSE delivery_marks.released_through END")
_PRUNE = ("DELETE FROM upload_refusals WHERE institution = ? AND upload_id NOT IN"
          " (SELECT id FROM uploads WHERE institution = ? AND state = ?)")
_REFUSE = ("INSERT INTO upload_refusals (upload_id, institution, problem) VALUES (?, ?, ?)"
           " ON CONFLICT (upload_id) DO UPDATE SET problem = excluded.problem")


class IntakeMarks:
    """Trigger marks and checksum refusals on ``database`` (either backend, one SQL)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def holding(self, institution: str) -> AbstractContextManager[None]:
        """The institution's forming lock across nodes (see the module's docstring); not
        reentrant: callers keep their own count (gateway.intake.deliveries)."""
        return self._db.hold(f"forming:{institution}")

    def released_through(self, institution: str) -> int:
        """The highest upload id a trigger file released (0: none yet)."""
        rows = self._db.rows("SELECT released_through FROM delivery_marks"
                             " WHERE institution = ?", (institution,))
        return int(rows[0][0]) if rows else 0

    def refused(self, institution: str) -> dict[int, str]:
        """Waiting uploads that must be rejected, with the reason, by id."""
        rows = self._db.rows("SELECT upload_id, problem FROM upload_refusals"
                             " WHERE institution = ? ORDER BY upload_id", (institution,))
        return {int(row[0]): str(row[1]) for row in rows}

    def release(self, institution: str, through: int) -> None:
        """Durably mark uploads up to ``through`` as one complete delivery (never moves a
        mark back)."""
        with self._db.transaction() as session:
            session.execute(_RELEASE, (institution, through))

    def refuse(self, institution: str, upload_id: int, problem: str) -> None:
        """Durably record that ``upload_id`` must not be imported, and drop the refusals of
        the institution's uploads no longer waiting.  Call while :meth:`holding`, having
        seen the upload waiting."""
        with self._db.transaction() as session:
            session.execute(_PRUNE, (institution, institution, UploadState.RECEIVED))
            session.execute(_REFUSE, (upload_id, institution, problem))

    def import_files(self, folder: Path) -> int:
        """Move the JSON files of an older data dir (``<institution>.json``) into the
        tables, each in one transaction, deleting the file once committed (a crash in
        between imports it again: both writes are idempotent).  Returns how many files were
        imported; raises ValueError naming a file that cannot be read."""
        imported = 0
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            released, refused = _read_marks(path)
            with self._db.transaction() as session:
                session.execute(_RELEASE, (path.stem, released))
                for upload_id, problem in refused.items():
                    session.execute(_REFUSE, (upload_id, path.stem, problem))
                session.execute(_PRUNE, (path.stem, path.stem, UploadState.RECEIVED))
            path.unlink()
            imported += 1
            log.info("trigger marks and refusals imported into the store",
                     extra={"institution": path.stem, "file": str(path)})
        return imported


def _read_marks(path: Path) -> tuple[int, Mapping[int, str]]:
    """What an older gateway wrote to ``path``: the trigger mark and the refusals."""
    try:
        raw = json.loads(path.read_bytes())
        return (int(raw["released_through"]),
                {int(k): str(v) for k, v in raw["refused"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a trigger-marks file the gateway can import "
                         f"({type(error).__name__}: {error}); fix or remove it, "
                         "then start again") from None
