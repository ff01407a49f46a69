"""Canvas's delayed `write_errors_to_file` job, as one sandbox thread.

`do_batch_end_work` saves the terminal state first and only queues the error file
(`delay_if_production(max_attempts: 5).write_errors_to_file`), so in production
`errors_attachment` shows some time after the import ended.  The store records when each
error file is due (`errors_file_delay` after the end); this thread writes each one then, in
due order.  Due files left by a previous run (same data dir) are written once it starts.
"""

from __future__ import annotations

import logging
import threading

from gateway.sandbox.store import ImportStore
from gateway.sandbox.worker import SandboxWorker

logger = logging.getLogger(__name__)


class ErrorsFileJobs(SandboxWorker):
    """The delayed-job runner; start() once, stop by setting the shared event."""

    def __init__(self, store: ImportStore, stop: threading.Event) -> None:
        super().__init__("canvas-sandbox-delayed-jobs")
        self._store = store
        self._stop = stop

    def _run(self) -> None:
        while True:
            due = self._store.next_due_errors_file(self._stop)
            if due is None:
                return
            account_id, import_id = due
            record = self._store.write_errors_file(account_id, import_id)
            logger.debug("import %d: error file written", record.id)
