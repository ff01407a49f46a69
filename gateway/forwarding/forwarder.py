"""The forwarder runner: sends each institution's batches to Canvas, one at a time, in order.

For every institution only the *head* batch (the oldest not finished) is ever acted on, so a
batch can never overtake an earlier one, and a FAILED or HELD head stops the queue until an
operator acts.  Actions on different institutions run in parallel on a bounded pool.

Never twice: the batch moves to SUBMITTING (committed) before its POST.  When the outcome of a
POST is unknown (timeout, reset, 5xx, crash), the batch stays SUBMITTING and is *reconciled*:
Canvas's recent imports are searched for its unique attachment name and size; it is adopted
if found, re-queued only if Canvas shows no import at all since the attempt, and HELD for an
operator otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from gateway.forwarding.backoff import poll_delay, retry_delay
from gateway.forwarding.canvas import (
    RUNNING_STATES,
    TERMINAL_STATES,
    CanvasClient,
    CanvasError,
)
from gateway.institutions import Institution
from gateway.runner import Runner
from gateway.settings import ForwardingSettings
from gateway.sorting.sorter import BATCH_REPORT
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, TransitionError
from gateway.state.store import Store, Transaction

log = logging.getLogger(__name__)

RECONCILE_MARGIN_SECONDS = 300.0
"""How far before a POST attempt to search for its import (allows for clock skew)."""

_OUTCOMES = {"imported": BatchState.IMPORTED,
             "imported_with_messages": BatchState.IMPORTED_WITH_MESSAGES}


def attachment_name(batch: BatchRecord) -> str:
    """The file name a batch is posted under; unique, so its import can be found again."""
    return f"{batch.institution}-batch-{batch.id:06d}.zip"


class Forwarder(Runner):
    """Moves head batches READY → SUBMITTING → IMPORTING → an end state."""

    name = "forwarder"

    def __init__(self, *, store: Store, spool: Spool,
                 institutions: Callable[[], dict[str, Institution]],
                 settings: ForwardingSettings, on_finished: Callable[[], None]) -> None:
        super().__init__(idle_seconds=min(1.0, settings.poll_initial_seconds))
        self._store = store
        self._spool = spool
        self._institutions = institutions
        self._settings = settings
        self._on_finished = on_finished
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="forwarder")

    def step(self) -> bool:
        """Act on every institution whose head batch is due; True if any action ran."""
        now = self._store.clock()
        due = [(institution, head) for institution in self._institutions().values()
               if (head := self._store.head_batch(institution.name, FINISHED_BATCH_STATES))
               and head.next_attempt_at <= now]
        acted = list(self._pool.map(lambda pair: self._act(*pair), due))
        return any(acted)

    def close(self) -> None:
        """Stop the worker pool after the actions under way."""
        self._pool.shutdown(wait=True)

    def _act(self, institution: Institution, batch: BatchRecord) -> bool:
        client = CanvasClient(institution.canvas,
                              timeout_seconds=self._settings.request_timeout_seconds)
        try:
            if batch.state is BatchState.DEFERRED:
                with self._store.transaction() as txn:
                    txn.move("batch", batch.id, BatchState.DEFERRED, BatchState.READY)
                batch = self._store.batch(batch.id)
            if batch.state is BatchState.READY:
                return self._submit(client, batch)
            if batch.state is BatchState.SUBMITTING:
                return self._reconcile(client, batch)
            if batch.state is BatchState.IMPORTING:
                return self._poll(client, batch)
        except TransitionError as error:
            log.warning("batch changed under the forwarder: %s", error)
        return False

    # -- submitting ------------------------------------------------------------------------

    def _submit(self, client: CanvasClient, batch: BatchRecord) -> bool:
        try:
            running = client.list_imports(states=RUNNING_STATES, max_pages=1)
        except CanvasError as error:
            self._trouble(batch, BatchState.READY, error)
            return True
        if running:
            ids = ", ".join(str(item.get("id")) for item in running[:5])
            log.info("waiting for Canvas imports already running", extra={
                "batch_id": batch.id, "canvas_imports": ids})
            self._later(batch, BatchState.READY, self._settings.poll_initial_seconds)
            return False
        with self._store.transaction() as txn:
            txn.move("batch", batch.id, BatchState.READY, BatchState.SUBMITTING,
                     submitted_at=txn.now, attempts=batch.attempts + 1)
        try:
            answer = client.post_import(self._spool.batch_zip_path(batch.id),
                                        attachment_name(batch))
        except CanvasError as error:
            if error.ambiguous:
                log.warning("POST outcome unknown; will reconcile", extra={
                    "batch_id": batch.id, "error": str(error)})
                self._later(batch, BatchState.SUBMITTING, self._settings.poll_initial_seconds)
            else:
                self._trouble(batch, BatchState.SUBMITTING, error)
            return True
        self._record_posted(batch.id, answer)
        return True

    def _record_posted(self, batch_id: int, answer: dict[str, Any]) -> None:
        with self._store.transaction() as txn:
            txn.move("batch", batch_id, BatchState.SUBMITTING, BatchState.IMPORTING,
                     import_id=int(answer["id"]), posted_at=txn.now,
                     canvas_state=answer.get("workflow_state"), canvas_json=answer,
                     next_attempt_at=txn.now + self._settings.poll_initial_seconds)
        log.info("batch posted", extra={"batch_id": batch_id, "import_id": answer["id"]})

    def _reconcile(self, client: CanvasClient, batch: BatchRecord) -> bool:
        """Decide what became of a POST whose answer was lost (see the module docstring)."""
        since = datetime.fromtimestamp(
            (batch.submitted_at or batch.created_at) - RECONCILE_MARGIN_SECONDS, tz=UTC)
        try:
            recent = client.list_imports(created_since=since)
        except CanvasError as error:
            self._trouble(batch, BatchState.SUBMITTING, error)
            return True
        size = self._spool.batch_zip_path(batch.id).stat().st_size
        matches = [item for item in recent if _carries(item, attachment_name(batch), size)]
        if len(matches) == 1:
            log.info("found the import of an unanswered POST", extra={"batch_id": batch.id})
            self._record_posted(batch.id, matches[0])
        elif not recent:
            with self._store.transaction() as txn:
                txn.move("batch", batch.id, BatchState.SUBMITTING, BatchState.READY,
                         reason="the POST did not reach Canvas; sending again")
        else:
            self._hold(batch, BatchState.SUBMITTING,
                       "Canvas may or may not have received this batch (its answer was lost "
                       "and its recent imports do not settle it). Check Canvas, then "
                       "release or skip the batch.")
        return True

    # -- polling ---------------------------------------------------------------------------

    def _poll(self, client: CanvasClient, batch: BatchRecord) -> bool:
        assert batch.import_id is not None
        try:
            answer = client.get_import(batch.import_id)
        except CanvasError as error:
            self._trouble(batch, BatchState.IMPORTING, error)
            return True
        state = str(answer.get("workflow_state"))
        if state not in TERMINAL_STATES:
            elapsed = self._store.clock() - (batch.posted_at or batch.created_at)
            with self._store.transaction() as txn:
                txn.update("batch", batch.id, BatchState.IMPORTING, canvas_state=state,
                           canvas_json=answer, next_attempt_at=txn.now + poll_delay(
                               elapsed, initial=self._settings.poll_initial_seconds,
                               maximum=self._settings.poll_max_seconds))
            return True
        outcome = _OUTCOMES.get(state, BatchState.FAILED)
        with self._store.transaction() as txn:
            txn.move("batch", batch.id, BatchState.IMPORTING, outcome,
                     reason=None if outcome is not BatchState.FAILED else
                     f"Canvas ended the import as {state}",
                     canvas_state=state, canvas_json=answer, finished_at=txn.now)
            txn.add_notice(BATCH_REPORT, batch.institution, batch.id)
        log.info("import finished", extra={"batch_id": batch.id, "import_id": batch.import_id,
                                           "canvas_state": state})
        self._on_finished()
        return True

    # -- trouble ---------------------------------------------------------------------------

    def _trouble(self, batch: BatchRecord, current: BatchState, error: CanvasError) -> None:
        """Back off on transient errors; hold the queue on permanent ones."""
        if not error.transient:
            self._hold(batch, current, f"Canvas refused the request: {error}")
            return
        delay = retry_delay(batch.attempts + 1, initial=self._settings.retry_initial_seconds,
                            maximum=self._settings.retry_max_seconds)
        log.warning("Canvas trouble, retrying in %.0fs: %s", delay, error,
                    extra={"batch_id": batch.id})
        if current is BatchState.SUBMITTING:
            with self._store.transaction() as txn:
                txn.move("batch", batch.id, current, BatchState.DEFERRED, reason=str(error),
                         next_attempt_at=txn.now + delay)
            return
        with self._store.transaction() as txn:
            txn.update("batch", batch.id, current, next_attempt_at=txn.now + delay,
                       attempts=batch.attempts + 1, reason=str(error))

    def _later(self, batch: BatchRecord, current: BatchState, delay: float) -> None:
        with self._store.transaction() as txn:
            txn.update("batch", batch.id, current, next_attempt_at=txn.now + delay)

    def _hold(self, batch: BatchRecord, current: BatchState, reason: str) -> None:
        with self._store.transaction() as txn:
            hold(txn, batch, current, reason)
        log.error("batch held: %s", reason, extra={"batch_id": batch.id})
        self._on_finished()


def hold(txn: Transaction, batch: BatchRecord, current: BatchState, reason: str) -> None:
    """Move a batch to HELD with its reason and queue the report saying so."""
    txn.move("batch", batch.id, current, BatchState.HELD, reason=reason)
    txn.add_notice(BATCH_REPORT, batch.institution, batch.id)


def _carries(item: dict[str, Any], filename: str, size: int) -> bool:
    """True when a SisImport's uploaded attachment is our file (same unique name and size)."""
    for attachment in item.get("csv_attachments") or []:
        names = {attachment.get("filename"), attachment.get("display_name")}
        if filename in names and attachment.get("size") == size:
            return True
    return False
