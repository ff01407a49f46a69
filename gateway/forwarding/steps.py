"""One forwarding step on one head batch: submit it, reconcile a lost answer, or poll it.

Never twice: the batch moves to SUBMITTING (committed) before its POST.  When the outcome of a
POST is unknown (timeout, reset, 5xx, crash), the batch stays SUBMITTING and is *reconciled*:
Canvas's recent imports are searched for its unique attachment name and size; it is adopted
if found, re-queued only if Canvas shows no import at all since the attempt, and HELD for an
operator otherwise.  Every error arrives classified (CanvasError); transient ones back off,
permanent ones hold the institution's queue with Canvas's own words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from urllib.parse import urljoin

from gateway.forwarding.backoff import poll_delay, trouble_delay
from gateway.forwarding.canvas import RUNNING_STATES, TERMINAL_STATES, CanvasClient, CanvasError
from gateway.settings import ForwardingSettings
from gateway.sorting.options import baseline, deletion_scope, mass_change
from gateway.sorting.sorter import BATCH_REPORT
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool
from gateway.state.states import BatchState
from gateway.state.store import Store, Transaction

log = logging.getLogger(__name__)

OPS_ALERT = "ops_alert"
RECONCILE_MARGIN_SECONDS = 300.0
"""How far before a POST attempt to search for its import (allows for clock skew)."""

_OUTCOMES = {"imported": BatchState.IMPORTED,
             "imported_with_messages": BatchState.IMPORTED_WITH_MESSAGES}


def attachment_name(batch: BatchRecord) -> str:
    """The file name a batch's current attempt is posted under.

    Unique per batch *and* attempt, so reconciling a requeued batch can never adopt the
    import of an earlier attempt.  ``attempts`` counts POST attempts (set at SUBMITTING).
    """
    return f"{batch.institution}-batch-{batch.id:06d}-{batch.attempts}.zip"


@dataclass(frozen=True)
class BatchSteps:
    """The actions on a head batch; each returns after one request or a short sequence."""

    store: Store
    spool: Spool
    settings: ForwardingSettings

    # -- submitting ------------------------------------------------------------------------

    def submit(self, client: CanvasClient, batch: BatchRecord,
               max_drop_percent: float = 100.0) -> None:
        """POST a READY batch, unless Canvas is still busy with imports on the account, or
        the mass-change guard holds it (``max_drop_percent``: the institution's limit)."""
        guard = self._mass_change(batch, max_drop_percent)
        if guard is not None:
            self.hold(batch, BatchState.READY, guard)
            return
        try:
            running = client.list_imports(states=RUNNING_STATES, max_pages=1)
        except CanvasError as error:
            self.trouble(batch, BatchState.READY, error)
            return
        if running:
            log.info("waiting for Canvas imports already running", extra={
                "batch_id": batch.id, "canvas_imports": [item.get("id") for item in running]})
            self._later(batch, BatchState.READY, self.settings.poll_initial_seconds)
            return
        with self.store.transaction() as txn:
            txn.move("batch", batch.id, BatchState.READY, BatchState.SUBMITTING,
                     submitted_at=txn.now, attempts=batch.attempts + 1)
        batch = self.store.batch(batch.id)
        try:
            answer = client.post_import(self.spool.batch_zip_path(batch.id),
                                        attachment_name(batch), batch.options)
        except CanvasError as error:
            self._post_failed(batch, error)
            return
        self._record_posted(batch.id, answer)

    def _mass_change(self, batch: BatchRecord, max_drop_percent: float) -> str | None:
        """The guard for a delivery that makes Canvas delete what it leaves out: compared
        with the last success to the same term or data set, per kind (every earlier batch
        of the institution has ended by now: this one is the head of its queue)."""
        scope = deletion_scope(batch.options)
        if scope is None or batch.guard_ack:
            return None
        earlier = [(b.options, b.row_counts)
                   for b in self.store.successes(batch.institution, batch.id)]
        previous = baseline(scope, batch.row_counts, earlier)
        return mass_change(previous, batch.row_counts, max_drop_percent)

    def _post_failed(self, batch: BatchRecord, error: CanvasError) -> None:
        """Only a POST known not to have reached Canvas may leave SUBMITTING for a retry."""
        if error.ambiguous:
            log.warning("POST outcome unknown; will reconcile", extra={
                "batch_id": batch.id, "error": str(error)})
            self._later(batch, BatchState.SUBMITTING, self.settings.poll_initial_seconds)
        elif not error.transient:
            self.hold(batch, BatchState.SUBMITTING, f"Canvas refused the request: {error}")
        else:
            delay = self._delay(batch)
            with self.store.transaction() as txn:
                txn.move("batch", batch.id, BatchState.SUBMITTING, BatchState.DEFERRED,
                         reason=str(error), next_attempt_at=txn.now + delay,
                         trouble_since=batch.trouble_since or txn.now)

    def _record_posted(self, batch_id: int, answer: dict[str, Any]) -> None:
        with self.store.transaction() as txn:
            txn.move("batch", batch_id, BatchState.SUBMITTING, BatchState.IMPORTING,
                     import_id=int(answer["id"]), posted_at=txn.now,
                     canvas_state=answer.get("workflow_state"), canvas_json=answer,
                     next_attempt_at=txn.now + self.settings.poll_initial_seconds)
        log.info("batch posted", extra={"batch_id": batch_id, "import_id": answer["id"]})

    def reconcile(self, client: CanvasClient, batch: BatchRecord) -> None:
        """Decide what became of a POST whose answer was lost (see the module docstring)."""
        since = datetime.fromtimestamp(
            (batch.submitted_at or batch.created_at) - RECONCILE_MARGIN_SECONDS, tz=UTC)
        try:
            recent = client.list_imports(created_since=since)
        except CanvasError as error:
            self.trouble(batch, BatchState.SUBMITTING, error)
            return
        settled = self.store.clock() - (batch.submitted_at or batch.created_at) > \
            self.settings.request_timeout_seconds + self.settings.reconcile_grace_seconds
        verdict, found = judge_lost_post(
            recent, known=self.store.import_ids(batch.institution),
            filename=attachment_name(batch),
            size=self.spool.batch_zip_path(batch.id).stat().st_size, settled=settled)
        if verdict is Verdict.ADOPT:
            assert found is not None
            log.info("found the import of an unanswered POST", extra={"batch_id": batch.id})
            self._record_posted(batch.id, found)
        elif verdict is Verdict.WAIT:
            self._later(batch, BatchState.SUBMITTING, self.settings.poll_max_seconds)
        elif verdict is Verdict.REPOST:
            with self.store.transaction() as txn:
                txn.move("batch", batch.id, BatchState.SUBMITTING, BatchState.READY,
                         reason="the POST did not reach Canvas; sending again")
        else:
            self.hold(batch, BatchState.SUBMITTING,
                      "Canvas may or may not have received this batch (its answer was lost "
                      "and its recent imports do not settle it). Check Canvas, then requeue "
                      "or skip the batch.")

    # -- polling ---------------------------------------------------------------------------

    def poll(self, client: CanvasClient, batch: BatchRecord) -> bool:
        """Check an IMPORTING batch; returns True when it reached its end."""
        assert batch.import_id is not None
        try:
            answer = client.get_import(batch.import_id)
        except CanvasError as error:
            self.trouble(batch, BatchState.IMPORTING, error)
            return False
        state = str(answer.get("workflow_state"))
        if state in TERMINAL_STATES:
            self._finish(client, batch, state, answer)
            return True
        elapsed = self.store.clock() - (batch.posted_at or batch.created_at)
        with self.store.transaction() as txn:
            txn.update("batch", batch.id, BatchState.IMPORTING, canvas_state=state,
                       canvas_json=answer, next_attempt_at=txn.now + poll_delay(
                           elapsed, initial=self.settings.poll_initial_seconds,
                           maximum=self.settings.poll_max_seconds))
        if elapsed > self.settings.max_import_seconds and batch.alerted_at is None:
            self._overdue(client, batch, elapsed)
        return False

    def _finish(self, client: CanvasClient, batch: BatchRecord, state: str,
                answer: dict[str, Any]) -> None:
        errors_csv = self._keep_errors_csv(client, batch, answer)
        outcome = _OUTCOMES.get(state, BatchState.FAILED)
        with self.store.transaction() as txn:
            reason = None if outcome is not BatchState.FAILED else \
                f"Canvas ended the import as {state}"
            txn.move("batch", batch.id, BatchState.IMPORTING, outcome, reason=reason,
                     canvas_state=state, canvas_json=answer, finished_at=txn.now,
                     errors_csv=errors_csv, trouble_since=None)
            txn.add_notice(BATCH_REPORT, batch.institution, batch.id, batch_state=outcome,
                           reason=reason)
        log.info("import finished", extra={"batch_id": batch.id, "import_id": batch.import_id,
                                           "canvas_state": state})

    def _keep_errors_csv(self, client: CanvasClient, batch: BatchRecord,
                         answer: dict[str, Any]) -> str | None:
        """Download Canvas's errors CSV beside the batch; a failure only loses the copy."""
        attachment = answer.get("errors_attachment")
        url = attachment.get("url") if isinstance(attachment, dict) else None
        if not url:
            return None
        destination = self.spool.batch_errors_path(batch.id)
        try:
            client.download(urljoin(client.base_url, str(url)), destination)
        except CanvasError as error:
            log.warning("errors CSV not downloaded: %s", error, extra={"batch_id": batch.id})
            return None
        return destination.name

    def _overdue(self, client: CanvasClient, batch: BatchRecord, elapsed: float) -> None:
        """Tell ops once that an import runs too long; abort it if so configured."""
        minutes = int(elapsed // 60)
        reason = f"Canvas has been importing for {minutes} minutes"
        with self.store.transaction() as txn:
            txn.update("batch", batch.id, BatchState.IMPORTING, alerted_at=txn.now,
                       reason=reason)
            txn.add_notice(OPS_ALERT, batch.institution, batch.id,
                           batch_state=BatchState.IMPORTING, reason=reason)
        log.error("import overdue", extra={"batch_id": batch.id, "minutes": minutes})
        if self.settings.abort_after_max_wait and batch.import_id is not None:
            try:
                client.abort_import(batch.import_id)
            except CanvasError as error:
                log.error("abort failed: %s", error, extra={"batch_id": batch.id})

    # -- trouble ---------------------------------------------------------------------------

    def trouble(self, batch: BatchRecord, current: BatchState, error: CanvasError) -> None:
        """Hold the queue on a permanent error; on a transient one, try this same step again
        later (the batch keeps its state: a SUBMITTING batch is reconciled again, never
        re-posted blindly)."""
        if not error.transient:
            self.hold(batch, current, f"Canvas refused the request: {error}")
            return
        log.warning("Canvas trouble: %s", error, extra={"batch_id": batch.id})
        self.back_off(batch, str(error))

    def back_off(self, batch: BatchRecord, reason: str) -> None:
        """Retry a batch's step later in whatever state it is in; hold it for an operator
        once the trouble has lasted ``retry_lifetime_seconds``."""
        now = self.store.clock()
        since = batch.trouble_since or now
        if now - since > self.settings.retry_lifetime_seconds:
            self.hold(batch, batch.state, f"still failing after {int((now - since) // 60)} "
                                          f"minutes of retries; last error: {reason}")
            return
        with self.store.transaction() as txn:
            txn.update("batch", batch.id, batch.state, reason=reason, trouble_since=since,
                       next_attempt_at=txn.now + self._delay(batch))

    def _delay(self, batch: BatchRecord) -> float:
        """The wait before the next try, from how long this batch's trouble has lasted."""
        elapsed = self.store.clock() - (batch.trouble_since or self.store.clock())
        return trouble_delay(elapsed, initial=self.settings.retry_initial_seconds,
                             maximum=self.settings.retry_max_seconds)

    def _later(self, batch: BatchRecord, current: BatchState, delay: float) -> None:
        with self.store.transaction() as txn:
            txn.update("batch", batch.id, current, next_attempt_at=txn.now + delay)

    def hold(self, batch: BatchRecord, current: BatchState, reason: str) -> None:
        """Stop the institution's queue at this batch, with the reason and a report."""
        with self.store.transaction() as txn:
            hold(txn, batch, current, reason)
        log.error("batch held: %s", reason, extra={"batch_id": batch.id})


def hold(txn: Transaction, batch: BatchRecord, current: BatchState, reason: str) -> None:
    """Move a batch to HELD with its reason and queue the report saying so."""
    txn.move("batch", batch.id, current, BatchState.HELD, reason=reason, trouble_since=None)
    txn.add_notice(BATCH_REPORT, batch.institution, batch.id, batch_state=BatchState.HELD,
                   reason=reason)


class Verdict(Enum):
    """What became of a POST whose answer was lost."""

    ADOPT = "adopt"  # Canvas has it: follow that import
    WAIT = "wait"  # nothing yet, but Canvas may still be creating it
    REPOST = "repost"  # Canvas certainly does not have it: send it again
    HOLD = "hold"  # cannot tell: an operator must look


def judge_lost_post(recent: list[dict[str, Any]], *, known: set[int], filename: str,
                    size: int, settled: bool) -> tuple[Verdict, dict[str, Any] | None]:
    """Decide from Canvas's imports created since the attempt (pure; the rules of "never
    twice").

    Exactly one import carrying our unique file name and size: adopt it.  Several: hold.
    None, and every other recent import is explained (one we recorded, or one naming a
    different file): wait until the request could no longer be in progress (``settled``),
    then post again.  Any unexplained import (not ours, no file named): hold.
    """
    matches = [item for item in recent if _carries(item, filename, size)]
    if len(matches) == 1:
        return Verdict.ADOPT, matches[0]
    if matches:
        return Verdict.HOLD, None
    unexplained = [item for item in recent
                   if item.get("id") not in known and not item.get("csv_attachments")]
    if unexplained:
        return Verdict.HOLD, None
    return (Verdict.REPOST if settled else Verdict.WAIT), None


def _carries(item: dict[str, Any], filename: str, size: int) -> bool:
    """True when a SisImport's uploaded attachment is our file (same unique name and size)."""
    for attachment in item.get("csv_attachments") or []:
        names = {attachment.get("filename"), attachment.get("display_name")}
        if filename in names and attachment.get("size") == size:
            return True
    return False
