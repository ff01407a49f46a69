"""One processor thread per root account: Canvas's singleton `sis_batch:account:<id>` job.

It takes the account's oldest `created` import and runs it through these steps:

1. `importing` for `processing_seconds` (longer, or until aborted, when a stuck fault hits);
2. a forced outcome from the fault plan, if any, replaces the rest;
3. the payload is processed and the rows it applied are written to the account's SIS
   objects;
4. batch mode (§5): `cleanup_batch` for another `processing_seconds`, then the deletions
   (or the change_threshold abort);
5. the terminal state is recorded.

An abort is noticed at the next step boundary (the waits end at once), and the import is
then left exactly as the abort set it, as Canvas's `finish` does.  Only one import per
account is ever `importing` or `cleanup_batch` (§2.4); after an abort the next import starts
at once (Canvas may wait up to 10 minutes).
"""

from __future__ import annotations

import logging
import math
import threading

from gateway.sandbox.batchmode import apply_cleanup, plan_cleanup
from gateway.sandbox.errorfile import SisError
from gateway.sandbox.injector import FaultInjector, ImportPlan
from gateway.sandbox.processing import COUNT_KEYS, crash_message, import_upload
from gateway.sandbox.records import Outcome, SisImportRecord
from gateway.sandbox.store import ImportStore

logger = logging.getLogger(__name__)

FORCED_FAILURE = "Sandbox fault injection: forced failure"


class AccountProcessor:
    """The FIFO processor of one account; start() once, stop by setting the shared event."""

    def __init__(
        self,
        store: ImportStore,
        account_id: str,
        stop: threading.Event,
        injector: FaultInjector | None = None,
    ) -> None:
        self._store = store
        self._account_id = account_id
        self._stop = stop
        self._injector = injector or FaultInjector()
        self._thread = threading.Thread(
            target=self._run, name=f"canvas-sandbox-account-{account_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end; the caller must have set the stop event first."""
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            record = self._store.claim_next(self._account_id, self._stop)
            if record is None:
                return
            logger.debug("account %s: import %d importing", self._account_id, record.id)
            self._import(record, self._injector.for_import())

    def _import(self, record: SisImportRecord, plan: ImportPlan) -> None:
        """Run one claimed import to its end (or leave it when aborted or stopping)."""
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
            self._force(record, plan.outcome)
            return
        processed = import_upload(
            record.upload.filename,
            record.upload.payload,
            skip_deletes=record.options.skip_deletes,
            error_report=self._store.next_error_report,
        )
        objects = self._store.objects(self._account_id)
        objects.apply(record.id, processed.applied)
        outcome = self._cleanup(record, processed.outcome)
        if outcome is not None:
            self._finish(record, outcome)

    def _cleanup(self, record: SisImportRecord, outcome: Outcome) -> Outcome | None:
        """Batch mode's cleanup phase; None when the import was aborted meanwhile."""
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
        return apply_cleanup(cleanup, record.options, outcome, objects)

    def _force(self, record: SisImportRecord, state: str) -> None:
        """End the import in a forced state, applying nothing (fault injection)."""
        if state == "aborted":
            # As if an administrator aborted it while it ran: no outcome, no ended_at.
            self._store.abort(self._account_id, record.id)
            return
        counts = dict.fromkeys(COUNT_KEYS.values(), 0)
        if state == "failed":
            counts.update(error_count=0, warning_count=0)
            outcome = Outcome((), (), counts, error_message=FORCED_FAILURE)
        else:
            counts.update(error_count=1, warning_count=0)
            crash = SisError(None, crash_message(self._store.next_error_report), failure=True)
            outcome = Outcome((), (), counts, problems=(crash,))
        self._finish(record, outcome)

    def _finish(self, record: SisImportRecord, outcome: Outcome) -> None:
        finished = self._store.finish(self._account_id, record.id, outcome)
        logger.debug(
            "account %s: import %d %s", self._account_id, record.id, finished.workflow_state
        )
