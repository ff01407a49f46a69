"""Start-up recovery: make the data volume consistent again after any crash.

Runs before any component starts.  It removes what was never acknowledged (partial uploads,
temp files), sets aside what has no record (quarantine, never delete), and counts each
*crash* in the middle of a batch's action (being formed, or a POST whose end was never
recorded); a batch interrupted too often is HELD for an operator instead of crash-looping the
gateway.  A clean stop (``CLEAN_STOP`` marked by the daemon after its runners finished their
steps) interrupted nothing and counts nothing.  Everything else resumes by itself: the
runners read their work from the store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from gateway.sorting.sorter import BATCH_REPORT
from gateway.state.protocols import StateStore
from gateway.state.spool import TEMP_SUFFIX, Spool, publish_bytes
from gateway.state.states import IN_FLIGHT_BATCH_STATES, BatchState

log = logging.getLogger(__name__)

CLEAN_STOP = "clean_stop"
"""StateStore mark set by an orderly shutdown, cleared by the next start's recovery."""


@dataclass
class RecoveryReport:
    """What recovery did, for the log and for tests."""

    partial_uploads_removed: int = 0
    temp_files_removed: int = 0
    orphans_quarantined: list[str] = field(default_factory=list)
    batches_resumed: list[int] = field(default_factory=list)
    batches_held: list[int] = field(default_factory=list)


def recover(store: StateStore, spool: Spool, *, max_recoveries: int) -> RecoveryReport:
    """Bring spool and store back to a consistent state; see the module docstring."""
    report = RecoveryReport()
    for partial in spool.incoming.iterdir():
        partial.unlink()
        report.partial_uploads_removed += 1
    for folder in (spool.uploads, spool.batches, spool.mail, *spool.sftp.glob("*/*")):
        for temp in folder.glob(f".*{TEMP_SUFFIX}"):
            temp.unlink()
            report.temp_files_removed += 1
    _quarantine_orphans(store, spool, report)
    if store.mark(CLEAN_STOP) is None:
        _count_interruptions(store, max_recoveries, report)
    with store.transaction() as txn:
        txn.set_mark(CLEAN_STOP, None)
    log.info("recovery done", extra={"recovery": report.__dict__})
    return report


def _quarantine_orphans(store: StateStore, spool: Spool, report: RecoveryReport) -> None:
    """Uploads whose record never committed were never acknowledged: set them aside."""
    stored = [path for path in spool.uploads.iterdir() if path.name.isdigit()]
    known = store.known_uploads(int(path.name) for path in stored)  # not every record ever
    for path in stored:
        if int(path.name) not in known:
            _quarantine(spool, path, "published to the spool but never recorded (the "
                                     "gateway stopped before acknowledging the upload)")
            report.orphans_quarantined.append(path.name)


def _quarantine(spool: Spool, path: Path, reason: str) -> None:
    target = spool.quarantine / f"upload-{path.name}"
    path.replace(target)
    publish_bytes(target.with_name(target.name + ".reason.txt"), (reason + "\n").encode())
    log.warning("upload quarantined", extra={"spool_file": path.name, "reason": reason})


def mark_clean_stop(store: StateStore) -> None:
    """Record that the gateway stopped in order: no batch was in the middle of an action."""
    with store.transaction() as txn:
        txn.set_mark(CLEAN_STOP, txn.now)


def _count_interruptions(store: StateStore, max_recoveries: int, report: RecoveryReport) -> None:
    for state in sorted(IN_FLIGHT_BATCH_STATES):
        for batch in store.batches(state=BatchState(state)):
            if batch.state is BatchState.SUBMITTING and batch.post_settles_at is not None:
                continue  # its POST had ended: only waiting for Canvas, nothing interrupted
            with store.transaction() as txn:
                if batch.recoveries + 1 > max_recoveries:
                    reason = (f"interrupted {batch.recoveries + 1} times while {batch.state}; "
                              "held so it cannot crash-loop the gateway")
                    txn.move("batch", batch.id, batch.state, BatchState.HELD, reason=reason,
                             recoveries=batch.recoveries + 1)
                    txn.add_notice(BATCH_REPORT, batch.institution, batch.id,
                                   batch_state=BatchState.HELD, reason=reason)
                    report.batches_held.append(batch.id)
                else:
                    txn.update("batch", batch.id, batch.state, recoveries=batch.recoveries + 1)
                    report.batches_resumed.append(batch.id)
