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
import time
from dataclasses import dataclass, field

from gateway.sorting.sorter import BATCH_REPORT
from gateway.state.custody import REASON_SUFFIX, Area, Custody, PayloadKey
from gateway.state.protocols import StateStore
from gateway.state.spool import TEMP_SUFFIX, Spool
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


def recover(store: StateStore, spool: Spool, custody: Custody, *, max_recoveries: int,
            orphan_grace_seconds: float = 0.0, leased: bool = False) -> RecoveryReport:
    """Bring spool, custody and store back to a consistent state; see the module docstring.

    ``orphan_grace_seconds``: how old a payload without a record must be to be set aside
    (and a custody temp file to be removed).  0 on one machine, where nothing else writes
    while recovery runs; in cluster mode, longer than any upload's put-then-record, since
    other nodes keep receiving.  ``leased`` (cluster mode): interrupted batches are not
    counted here but by :func:`recover_institution` when this node takes a lease (the
    batches belong to whichever node holds their institution)."""
    report = RecoveryReport()
    for partial in spool.incoming.iterdir():
        partial.unlink()
        report.partial_uploads_removed += 1
    for folder in (spool.mail, *spool.sftp.glob("*/*")):
        for temp in folder.glob(f".*{TEMP_SUFFIX}"):
            temp.unlink()
            report.temp_files_removed += 1
    report.temp_files_removed += custody.sweep(orphan_grace_seconds)
    _quarantine_orphans(store, custody, report, orphan_grace_seconds)
    if store.mark(CLEAN_STOP) is None and not leased:
        _count_interruptions(store, max_recoveries, report)
    with store.transaction() as txn:
        txn.set_mark(CLEAN_STOP, None)
    log.info("recovery done", extra={"recovery": report.__dict__})
    return report


def set_aside_orphans(store: StateStore, custody: Custody, grace_seconds: float) -> list[str]:
    """The orphan rule on a running gateway (hourly, from retention): upload payloads no
    record names, older than ``grace_seconds``, go to quarantine; returns their names.
    The grace must exceed any upload's put-then-record: uploads are being received."""
    report = RecoveryReport()
    _quarantine_orphans(store, custody, report, grace_seconds)
    if report.orphans_quarantined:
        log.warning("unrecorded uploads set aside", extra={
            "payloads": report.orphans_quarantined})
    return report.orphans_quarantined


def _quarantine_orphans(store: StateStore, custody: Custody, report: RecoveryReport,
                        grace_seconds: float) -> None:
    """Uploads whose record never committed were never acknowledged: set them aside (once
    older than the grace: a younger one may be an upload another node is recording).

    Only the records of the payloads the custody holds are read (retention keeps that to
    its window), never every upload ever recorded."""
    keys = list(custody.keys(Area.UPLOADS))
    ids = store.known_uploads(key.upload_id for key in keys if key.upload_id is not None)
    names = store.named_payloads(key.name for key in keys if key.upload_id is None)
    known = {key for key in keys if key.upload_id in ids or key.name in names}
    cutoff = time.time() - grace_seconds  # payload times are wall-clock times
    for key in keys:
        if key in known:
            continue
        found = custody.stat(key)
        if found is None or (grace_seconds > 0 and found.modified_at > cutoff):
            continue
        _quarantine(custody, key, "put into custody but never recorded (the gateway "
                                  "stopped before acknowledging the upload)")
        report.orphans_quarantined.append(key.name)


def _quarantine(custody: Custody, key: PayloadKey, reason: str) -> None:
    target = PayloadKey.quarantined(f"upload-{key.name}")
    custody.put(PayloadKey.quarantined(target.name + REASON_SUFFIX), (reason + "\n").encode(),
                replace=True)
    custody.move(key, target)
    log.warning("upload quarantined", extra={"spool_file": key.name, "reason": reason})


def mark_clean_stop(store: StateStore) -> None:
    """Record that the gateway stopped in order: no batch was in the middle of an action."""
    with store.transaction() as txn:
        txn.set_mark(CLEAN_STOP, txn.now)


def recover_institution(store: StateStore, institution: str, *,
                        max_recoveries: int) -> RecoveryReport:
    """Cluster mode, on taking ``institution``'s lease: its batches left mid-action by the
    previous holder (dead, paused or handing over) count one interruption each, as at a
    start after a crash; a SUBMITTING one is then reconciled by the forwarder, never
    re-posted blindly.  Raises LeaseLost if the lease is lost meanwhile."""
    report = RecoveryReport()
    _count_interruptions(store, max_recoveries, report, institution)
    if report.batches_resumed or report.batches_held:
        log.info("institution recovered", extra={"institution": institution,
                                                 "recovery": report.__dict__})
    return report


def _count_interruptions(store: StateStore, max_recoveries: int, report: RecoveryReport,
                         institution: str | None = None) -> None:
    for state in sorted(IN_FLIGHT_BATCH_STATES):
        for batch in store.batches(institution=institution, state=BatchState(state)):
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
