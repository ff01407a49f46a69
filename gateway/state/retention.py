"""Retention: purge archives, payloads and reports of batches that ended long ago (through
the custody and the shelf: the spool and the SFTP homes, or the bucket).

Only batches in a finished state (imported, rejected, skipped) are purged, and only their
payloads: the records in the store stay, so history and reports remain answerable.  Held
and failed batches are never purged: they wait for an operator.
"""

from __future__ import annotations

import logging

from gateway.runner import EVERY_INSTITUTION, Holdings, Runner
from gateway.state.custodies import build_shelf
from gateway.state.custody import Area, Custody, PayloadKey, archive_prefix, upload_key
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord
from gateway.state.recovery import set_aside_orphans
from gateway.state.report_names import all_report_names
from gateway.state.shelf import REPORTS
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES

log = logging.getLogger(__name__)

DAY = 86400.0
RUNNING_ORPHAN_GRACE = 3600.0
"""While uploads are being received, an unrecorded payload is an orphan only this old."""
_PAGE = 500


class Retention(Runner):
    """Hourly: removes what is older than ``retention_days`` (see the module docstring)."""

    name = "retention"

    def __init__(self, *, store: StateStore, spool: Spool, custody: Custody,
                 retention_days: float, sweep_grace_seconds: float = DAY,
                 orphan_grace_seconds: float = RUNNING_ORPHAN_GRACE,
                 holdings: Holdings = EVERY_INSTITUTION) -> None:
        super().__init__(idle_seconds=3600.0)
        self._store = store
        self._holdings = holdings
        self._shelf = build_shelf(spool, custody)  # the reports are kept beside the payloads
        self._custody = custody
        self._sweep_grace = sweep_grace_seconds
        self._orphan_grace = max(orphan_grace_seconds, RUNNING_ORPHAN_GRACE)
        self._keep_seconds = retention_days * DAY

    def step(self) -> bool:
        """Purge every expired batch once; False so the loop then sleeps for an hour.

        A purged batch is marked (``purged_at``) in the same pass, so each hour reads only
        the batches that expired since the last: the cost follows the retention window,
        never the length of the history."""
        cutoff = self._store.clock() - self._keep_seconds
        purged = 0
        after = 0
        while page := self._store.unpurged_batches(FINISHED_BATCH_STATES, cutoff, _PAGE,
                                                   after):
            after = page[-1].id  # cluster mode: other nodes' batches stay for their holders
            expired = [batch for batch in page if self._holdings.holds(batch.institution)]
            purged += sum(self._purge(batch) for batch in expired)
            with self._store.transaction() as txn:
                for batch in expired:
                    txn.mark_purged(batch.id)
        if purged:
            log.info("retention purged old batches", extra={"batches": purged})
        # What writes cut short left (an S3 multipart upload a crash abandoned): a day is
        # far longer than any write takes.
        # A payload put whose record never came (a crash, a store that could not say
        # whether its commit landed) is set aside here too, not only at the next start.
        set_aside_orphans(self._store, self._custody, self._orphan_grace)
        swept = self._custody.sweep(self._sweep_grace)
        if swept:
            log.info("unfinished payload writes removed", extra={"removed": swept})
        return False

    def _purge(self, batch: BatchRecord) -> bool:
        """Remove one batch's archive, payloads and report files; True if any existed."""
        batch_id = batch.id
        keys = [PayloadKey.batch_zip(batch_id), PayloadKey.batch_errors(batch_id),
                *(upload_key(u) for u in self._store.uploads(batch_id=batch_id)),
                *self._custody.keys(Area.ARCHIVE, archive_prefix(batch.institution, batch_id))]
        existed = False
        for key in keys:
            existed = self._custody.delete(key) or existed
        for name in all_report_names(batch.reference):  # receipt, result, and older names
            self._shelf.remove(batch.institution, REPORTS, name)
        return existed
