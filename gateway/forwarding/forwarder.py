"""The forwarder runner: sends each institution's batches to Canvas, one at a time, in order.

For every institution only the *head* batch (the oldest not finished) is ever acted on, so a
batch can never overtake an earlier one, and a FAILED or HELD head stops the queue until an
operator acts.  Each institution has at most one step under way; steps of different
institutions run in parallel on a bounded pool, and a round offers each institution one step,
so a slow Canvas for one institution never holds up the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager

from gateway.forwarding.canvas import CanvasClient
from gateway.forwarding.steps import BatchSteps
from gateway.forwarding.turns import AccountTurns, account_of
from gateway.institutions import Institution
from gateway.runner import EVERY_INSTITUTION, Holdings, Runner, wait_idle
from gateway.settings import ForwardingSettings
from gateway.state.custody import Custody
from gateway.state.leases import LeaseLost, log_dropped
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, TransitionError

log = logging.getLogger(__name__)

ACTIONABLE = frozenset({BatchState.READY, BatchState.DEFERRED, BatchState.SUBMITTING,
                        BatchState.IMPORTING})
"""Head states the forwarder acts on; any other head (OPEN, HELD, FAILED) waits."""

UNSENT = frozenset({BatchState.READY, BatchState.DEFERRED})
"""Head states not yet posted: an institution hold (``gateway hold``) keeps them waiting."""


class Forwarder(Runner):
    """Moves head batches READY → SUBMITTING → IMPORTING → an end state."""

    name = "forwarder"

    def __init__(self, *, store: StateStore, custody: Custody,
                 institutions: Callable[[], dict[str, Institution]],
                 settings: ForwardingSettings, on_finished: Callable[[], None],
                 holdings: Holdings = EVERY_INSTITUTION) -> None:
        super().__init__(idle_seconds=min(1.0, settings.poll_initial_seconds))
        self._store = store
        self._holdings = holdings
        self._institutions = institutions
        self._settings = settings
        self._on_finished = on_finished
        self._steps = BatchSteps(store, custody, settings)
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="forwarder")
        self._busy: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._turns = AccountTurns(self.wake)

    def step(self) -> bool:
        """Start a step for every idle institution whose head batch is due.

        Returns True when it started any, so the loop looks again at once; finished steps
        wake the loop themselves.
        """
        now = self._store.clock()
        started = False
        for institution in self._institutions().values():
            if not self._holdings.holds(institution.name):
                continue  # cluster mode: another node forwards for it
            with self._lock:
                if institution.name in self._busy:
                    continue
            head = self._store.head_batch(institution.name, FINISHED_BATCH_STATES)
            if head is None or head.state not in ACTIONABLE:
                continue
            if head.next_attempt_at > now:
                continue
            if head.state in UNSENT and institution.name in self._store.institution_holds():
                continue  # an operator holds this queue: post nothing new, follow what runs
            if head.state in UNSENT and not self._turns.take(
                    account_of(institution.canvas), head.id, self._under_way):
                # Another institution's batch is being imported into this Canvas account:
                # wait, in process and without asking Canvas, for the turn to be given back.
                continue
            self._start(institution, head)
            started = True
        return started

    def _start(self, institution: Institution, batch: BatchRecord) -> None:
        with self._lock:
            # The epoch is pinned now, when the step is decided (see Holdings.acting).
            future = self._pool.submit(self._act, institution, batch,
                                       self._holdings.acting(institution.name))
            self._busy[institution.name] = future

        def done(_: Future[None]) -> None:
            with self._lock:
                self._busy.pop(institution.name, None)
            self.wake()

        future.add_done_callback(done)

    def drain(self) -> None:
        """Wait until no step is under way (tests, and orderly shutdown)."""
        wait_idle(self._lock, self._busy)

    def close(self) -> None:
        """Finish the steps under way (a POST must record its import id) and stop the pool."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _act(self, institution: Institution, batch: BatchRecord,
             acting: AbstractContextManager[object]) -> None:
        account = account_of(institution.canvas)
        try:
            with acting:
                self._step(institution, batch)
        finally:
            if not self._under_way(batch.id):
                self._turns.give_back(account, batch.id)

    def _under_way(self, batch_id: int) -> bool:
        """True while a batch may still post, or its import may still run in Canvas."""
        batch = self._store.batch(batch_id)
        return batch.state in ACTIONABLE and batch.terminal_seen_at is None

    def _step(self, institution: Institution, batch: BatchRecord) -> None:
        client = CanvasClient(institution.canvas,
                              timeout_seconds=self._settings.request_timeout_seconds)
        try:
            if batch.state is BatchState.DEFERRED:
                with self._store.transaction() as txn:
                    txn.move("batch", batch.id, BatchState.DEFERRED, BatchState.READY)
                batch = self._store.batch(batch.id)
            if batch.state is BatchState.READY:
                self._steps.submit(client, batch,
                                   institution.sorting.mass_change_max_drop_percent)
            elif batch.state is BatchState.SUBMITTING:
                self._steps.reconcile(client, batch)
            elif batch.state is BatchState.IMPORTING:
                self._steps.poll(client, batch)
        except LeaseLost as error:
            log_dropped(error, batch_id=batch.id)  # its next holder takes it from the store
            return
        except TransitionError as error:
            # An operator (CLI) moved the batch meanwhile; the next round sees the new state.
            log.warning("batch changed under the forwarder",
                        extra={"batch_id": batch.id, "error": str(error)})
        except Exception:
            # A bug or a local fault (disk, missing file): log it and back off rather than
            # retry in a tight loop; the batch keeps its state and its place in the queue.
            log.exception("forwarding step failed", extra={"batch_id": batch.id})
            self._steps.back_off(self._store.batch(batch.id), "internal error; see the log")
        if self._store.batch(batch.id).state not in ACTIONABLE:
            self._on_finished()
