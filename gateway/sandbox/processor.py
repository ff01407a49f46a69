"""One processor thread per root account: Canvas's singleton `sis_batch:account:<id>` job.

It takes the account's import to run (one a previous run left `importing` first, else the
oldest `created` one, now `importing`) and runs it through these steps, saving the record
exactly where Canvas saves the SisBatch:

1. prepare (unpack.py): the batch's attachments are created; a parallel import (more than
   49 data rows) saves its data now, so its csv_attachments show while it is `importing`;
2. `importing` for `processing_seconds` (longer, or until aborted, when a stuck fault hits);
3. a forced outcome from the fault plan, if any, replaces the rest;
4. the rows are applied to the account's SIS objects (the state changes feed
   `data.statistics`);
5. batch mode (§5): `cleanup_batch` for another `processing_seconds`, then the deletions
   (or the change_threshold abort);
6. the end is saved (batchdata.py decides `data`); the error file follows after the
   store's `errors_file_delay` (delayed.py).

An abort is noticed at the next step boundary (the waits end at once), and the import is
then left exactly as the abort set it, as Canvas's `finish` does.  Only one import per
account is ever `importing` or `cleanup_batch` (§2.4); after an abort the next import starts
at once (Canvas may wait up to 10 minutes).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import replace

from gateway.sandbox.batchdata import final_data, prepared_data
from gateway.sandbox.batchmode import apply_cleanup, plan_cleanup
from gateway.sandbox.injector import FaultInjector, ImportPlan
from gateway.sandbox.processing import Processed, crashed, import_upload
from gateway.sandbox.records import End, Outcome, SisImportRecord
from gateway.sandbox.store import ImportStore
from gateway.sandbox.worker import SandboxWorker

logger = logging.getLogger(__name__)

FORCED_FAILURE = "Sandbox fault injection: forced failure"


class AccountProcessor(SandboxWorker):
    """The FIFO processor of one account; start() once, stop by setting the shared event."""

    def __init__(
        self,
        store: ImportStore,
        account_id: str,
        stop: threading.Event,
        injector: FaultInjector | None = None,
    ) -> None:
        super().__init__(f"canvas-sandbox-account-{account_id}")
        self._store = store
        self._account_id = account_id
        self._stop = stop
        self._injector = injector or FaultInjector()

    def _run(self) -> None:
        while True:
            record = self._store.claim_next(self._account_id, self._stop)
            if record is None:
                return
            logger.debug("account %s: import %d importing", self._account_id, record.id)
            self._import(record, self._injector.for_import())

    def _import(self, record: SisImportRecord, plan: ImportPlan) -> None:
        """Run one claimed import to its end (or leave it when aborted or stopping)."""
        processed, listed = self._prepare(record)
        processing = self._store.processing_seconds
        seconds: float | None = processing
        if plan.stuck:
            extra = plan.stuck_seconds
            seconds = None if extra is None or math.isinf(extra) else processing + extra
        # Waiting on the store (not sleeping) lets an abort or stop() end the wait at once;
        # an import interrupted by stop() stays `importing`, like a dead Canvas job.
        if not self._store.hold(self._account_id, record.id, seconds, self._stop):
            return
        if plan.outcome is not None:
            self._force(record, plan.outcome, processed, listed)
            return
        objects = self._store.objects(self._account_id)
        changes = objects.apply(record.id, processed.applied)
        outcome = self._cleanup(record, replace(processed.outcome, changes=dict(changes)))
        if outcome is not None:
            self._finish(record, outcome, listed)

    def _prepare(self, record: SisImportRecord) -> tuple[Processed, tuple[int, ...]]:
        """Unpack and sniff the upload, create its attachments; a parallel import saves
        its data now.  Returns the processing result and the listed attachment ids."""
        processed = import_upload(
            record.upload.filename,
            record.upload.payload,
            skip_deletes=record.options.skip_deletes,
            error_report=self._store.next_error_report,
        )
        files = processed.prepared.files
        stored = self._store.attach_files(self._account_id, record.id, files)
        listed = tuple(s.id for s, f in zip(stored, files, strict=True) if f.listed)
        outcome = processed.outcome
        if outcome.end is End.FINISHED and not outcome.running_immediately:
            self._store.save_data(self._account_id, record.id, prepared_data(listed, outcome))
        return processed, listed

    def _cleanup(self, record: SisImportRecord, outcome: Outcome) -> Outcome | None:
        """Batch mode's cleanup phase; None when the import was aborted meanwhile, or
        when its cleanup job died (a parallel import then stays `cleanup_batch`)."""
        objects = self._store.objects(self._account_id)
        cleanup = plan_cleanup(record.id, record.options, outcome, objects)
        if cleanup is None:
            return outcome
        if cleanup.enters_cleanup:
            if not self._store.begin_cleanup(self._account_id, record.id):
                return None
            seconds = self._store.processing_seconds
            if not self._store.hold(self._account_id, record.id, seconds, self._stop):
                return None
        final = apply_cleanup(cleanup, record.options, outcome, objects)
        if final.end is End.JOB_FAILED and not final.running_immediately:
            # The cleanup ran in its own job, which has no failure hook: stuck for good.
            self._store.hold(self._account_id, record.id, None, self._stop)
            return None
        return final

    def _force(
        self, record: SisImportRecord, state: str, processed: Processed, listed: tuple[int, ...]
    ) -> None:
        """End the import in a forced state, applying nothing (fault injection)."""
        if state == "aborted":
            # As if an administrator aborted it while it ran: no outcome, no ended_at.
            self._store.abort(self._account_id, record.id)
            return
        prepared = processed.prepared
        if state == "failed":
            outcome = Outcome(
                processed.outcome.supplied_batches,
                (),
                {},
                running_immediately=prepared.running_immediately,
                error_message=FORCED_FAILURE,
                end=End.RESCUED,
            )
        else:
            outcome = crashed(self._store.next_error_report, prepared)
        self._finish(record, outcome, listed)

    def _finish(self, record: SisImportRecord, outcome: Outcome, listed: tuple[int, ...]) -> None:
        data = final_data(listed, outcome)
        finished = self._store.finish(self._account_id, record.id, outcome, data)
        logger.debug(
            "account %s: import %d %s", self._account_id, record.id, finished.workflow_state
        )
