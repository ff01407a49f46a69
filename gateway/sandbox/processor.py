"""One processor thread per root account: Canvas's singleton `sis_batch:account:<id>` job.

It takes the account's oldest `created` import, holds it in `importing` for the configured
processing time, processes the payload and records the terminal state, then takes the next.
Only one import per account is ever `importing` (§2.4).
"""

from __future__ import annotations

import logging
import threading

from gateway.sandbox.processing import process_upload
from gateway.sandbox.store import ImportStore

logger = logging.getLogger(__name__)


class AccountProcessor:
    """The FIFO processor of one account; start() once, stop by setting the shared event."""

    def __init__(self, store: ImportStore, account_id: str, stop: threading.Event) -> None:
        self._store = store
        self._account_id = account_id
        self._stop = stop
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
            # Waiting on the stop event rather than sleeping lets stop() end the thread at
            # once; an import interrupted this way stays `importing`, like a dead Canvas job.
            if self._stop.wait(self._store.processing_seconds):
                return
            outcome = process_upload(
                record.upload.filename,
                record.upload.payload,
                skip_deletes=record.options.skip_deletes,
                error_report=self._store.next_error_report,
            )
            finished = self._store.finish(self._account_id, record.id, outcome)
            logger.debug(
                "account %s: import %d %s", self._account_id, record.id, finished.workflow_state
            )
