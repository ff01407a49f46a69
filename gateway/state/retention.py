"""Retention: purge archives and the spool payloads of batches that ended long ago.

Only batches in a finished state (imported, rejected, skipped) are purged, and only their
payloads: the records in the store stay, so history and reports remain answerable.  Held
and failed batches are never purged: they wait for an operator.
"""

from __future__ import annotations

import logging
import shutil

from gateway.runner import Runner
from gateway.state.archive import archive_folder
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord
from gateway.state.report_names import all_report_names
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES

log = logging.getLogger(__name__)

DAY = 86400.0
_PAGE = 500


class Retention(Runner):
    """Hourly: removes what is older than ``retention_days`` (see the module docstring)."""

    name = "retention"

    def __init__(self, *, store: StateStore, spool: Spool, retention_days: float) -> None:
        super().__init__(idle_seconds=3600.0)
        self._store = store
        self._spool = spool
        self._keep_seconds = retention_days * DAY

    def step(self) -> bool:
        """Purge every expired batch once; False so the loop then sleeps for an hour.

        A purged batch is marked (``purged_at``) in the same pass, so each hour reads only
        the batches that expired since the last: the cost follows the retention window,
        never the length of the history."""
        cutoff = self._store.clock() - self._keep_seconds
        purged = 0
        while expired := self._store.unpurged_batches(FINISHED_BATCH_STATES, cutoff, _PAGE):
            purged += sum(self._purge(batch) for batch in expired)
            with self._store.transaction() as txn:
                for batch in expired:
                    txn.mark_purged(batch.id)
        if purged:
            log.info("retention purged old batches", extra={"batches": purged})
        return False

    def _purge(self, batch: BatchRecord) -> bool:
        """Remove one batch's archive, payloads and report files; True if any existed."""
        batch_id = batch.id
        paths = [self._spool.batch_zip_path(batch_id), self._spool.batch_errors_path(batch_id),
                 *(self._spool.upload_path(u.id) for u in self._store.uploads(batch_id=batch_id))]
        folder = archive_folder(self._spool, batch)
        existed = folder.exists() or any(path.exists() for path in paths)
        shutil.rmtree(folder, ignore_errors=True)
        for path in paths:
            path.unlink(missing_ok=True)
        reports = self._spool.reports(batch.institution)
        for name in all_report_names(batch.reference):  # receipt, result, and older names
            (reports / name).unlink(missing_ok=True)
        return existed
