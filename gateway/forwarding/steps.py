"""One forwarding step on one head batch: submit it, reconcile a lost answer, or poll it.

Never twice: before its POST the batch moves to SUBMITTING with the attempt's identity
(gateway.sorting.identity: the API user, the time, the options and the zip's member names,
unique per batch and attempt), in one committed transaction.  When the outcome of a POST is
unknown (timeout, reset, 5xx, crash), the batch stays SUBMITTING and is *reconciled* against
what Canvas shows (gateway.forwarding.reconcile): adopted when an import carries the
attempt's names, waited for while an import that could be ours has not shown its files,
posted again only when no import of the attempt exists or can still appear, held for an
operator otherwise.  Every error arrives classified (CanvasError); transient ones back off,
permanent ones hold the institution's queue with Canvas's own words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from gateway.forwarding.backoff import poll_delay, trouble_delay
from gateway.forwarding.canvas import RUNNING_STATES, CanvasClient, CanvasError
from gateway.forwarding.following import DUPLICATE_ALERT, OPS_ALERT, ImportFollower
from gateway.forwarding.reconcile import Judgement, Reading, Verdict, judge, window_start
from gateway.settings import ForwardingSettings
from gateway.sorting.identity import (
    AttemptIdentity,
    attempt_prefix,
    rename_members,
    zip_member_names,
)
from gateway.sorting.options import baseline, deletion_scope, mass_change
from gateway.sorting.sorter import BATCH_REPORT
from gateway.state.protocols import StateStore, StoreTransaction
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool, fsync_file, publish_file, temp_path_for
from gateway.state.states import BatchState

log = logging.getLogger(__name__)

DEFINITE_STATUSES = frozenset({500, 503})
"""POST answers after which Canvas is done with the request (see BatchSteps._settling)."""

__all__ = ["DUPLICATE_ALERT", "OPS_ALERT", "BatchSteps", "attempt_identity", "hold", "upload_name"]


def upload_name(batch_id: int, attempt: int) -> str:
    """The file name a zip is uploaded under.  Canvas never shows it (the import lists the
    extracted CSVs instead), but it must end in ``.zip`` for Canvas to unpack it."""
    return f"{attempt_prefix(batch_id, attempt).rstrip('-')}.zip"


@dataclass(frozen=True)
class BatchSteps:
    """The actions on a head batch; each returns after one request or a short sequence."""

    store: StateStore
    spool: Spool
    settings: ForwardingSettings

    @cached_property
    def follower(self) -> ImportFollower:
        """Polls posted imports to their end (gateway.forwarding.following)."""
        return ImportFollower(self.store, self.spool, self.settings, self)

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
            user = None if running else _api_user_id(client)
        except CanvasError as error:
            self.trouble(batch, BatchState.READY, error)
            return
        if running:
            log.info("waiting for Canvas imports already running", extra={
                "batch_id": batch.id, "canvas_imports": [item.get("id") for item in running]})
            self.later(batch, BatchState.READY, self.settings.poll_initial_seconds)
            return
        identity = self.begin_attempt(batch, user, client.server_time)
        batch = self.store.batch(batch.id)
        try:
            answer = client.post_import(self.spool.batch_zip_path(batch.id),
                                        upload_name(batch.id, identity.attempt), batch.options)
        except CanvasError as error:
            self._post_failed(batch, error)
            return
        self.record_posted(batch.id, answer, identity.attempt, client.base_url)

    def begin_attempt(self, batch: BatchRecord, user: int | None,
                      canvas_now: float | None = None) -> AttemptIdentity:
        """Name the zip's members for the next attempt, then commit SUBMITTING with the
        attempt's identity (a crash after this is reconciled, never re-posted blindly)."""
        attempt = batch.attempts + 1
        names = self._name_members(batch.id, attempt)
        identity = AttemptIdentity(batch.id, attempt, user, self.store.clock(),
                                   dict(batch.options), tuple(names), canvas_now)
        with self.store.transaction() as txn:
            txn.move("batch", batch.id, BatchState.READY, BatchState.SUBMITTING,
                     submitted_at=txn.now, attempts=attempt, identity_json=identity.to_json(),
                     post_settles_at=None, reconcile_json=None, terminal_seen_at=None,
                     trouble_since=None)
        return identity

    def _name_members(self, batch_id: int, attempt: int) -> list[str]:
        """The zip's member names for ``attempt``; rewrites the zip when they differ (only
        for a second or later attempt: the sorter names them for the first)."""
        path = self.spool.batch_zip_path(batch_id)
        names = zip_member_names(path)
        prefix = attempt_prefix(batch_id, attempt)
        if all(name.startswith(prefix) for name in names):
            return names
        temp = temp_path_for(path)
        try:
            names = rename_members(path, temp, prefix)
            fsync_file(temp)
            publish_file(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return names

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
        """Only a POST known not to have reached Canvas may leave SUBMITTING for a retry;
        any other records when an import of it could still appear and is reconciled."""
        if error.ambiguous:
            log.warning("POST outcome unknown; will reconcile", extra={
                "batch_id": batch.id, "error": str(error)})
            with self.store.transaction() as txn:
                txn.update("batch", batch.id, BatchState.SUBMITTING, reason=str(error),
                           post_settles_at=txn.now + self._settling(error),
                           next_attempt_at=txn.now + self.settings.poll_initial_seconds)
        elif not error.transient:
            self.hold(batch, BatchState.SUBMITTING, f"Canvas refused the request: {error}")
        else:
            delay = self._delay(batch)
            with self.store.transaction() as txn:
                txn.move("batch", batch.id, BatchState.SUBMITTING, BatchState.DEFERRED,
                         reason=str(error), next_attempt_at=txn.now + delay,
                         trouble_since=batch.trouble_since or txn.now)

    def _settling(self, error: CanvasError) -> float:
        """How long after a failed POST an import of it may still appear.  A 500 or 503
        from Canvas itself is its final word: an import it made is already listed, so only
        the grace.  A timeout, a reset, a proxy's 502/504 or a page that is not Canvas's
        may leave Canvas still working on the request: its whole timeout, then the grace."""
        if error.status in DEFINITE_STATUSES:
            return self.settings.reconcile_grace_seconds
        return self.settings.request_timeout_seconds + self.settings.reconcile_grace_seconds

    def record_posted(self, batch_id: int, answer: dict[str, Any], attempt: int, canvas: str,
                      evidence: dict[str, Any] | None = None) -> None:
        """Canvas (at base URL ``canvas``) has the attempt's import: follow it (progress:
        the interruption count and the retry clock start again)."""
        batch = self.store.batch(batch_id)
        with self.store.transaction() as txn:
            fields: dict[str, Any] = {"reconcile_json": evidence} if evidence else {}
            txn.move("batch", batch_id, BatchState.SUBMITTING, BatchState.IMPORTING,
                     import_id=int(answer["id"]), posted_at=txn.now,
                     canvas_state=answer.get("workflow_state"), canvas_json=answer,
                     recoveries=0, trouble_since=None,
                     next_attempt_at=txn.now + self.settings.poll_initial_seconds, **fields)
            txn.record_import(batch.institution, canvas, int(answer["id"]), batch_id, attempt)
        log.info("batch posted", extra={"batch_id": batch_id, "import_id": answer["id"]})

    # -- reconciling -----------------------------------------------------------------------

    def reconcile(self, client: CanvasClient, batch: BatchRecord) -> None:
        """Decide what became of a POST whose answer was lost (see the module docstring)."""
        identity = attempt_identity(batch)
        settles_at = self.settles_at(batch)
        try:
            recent, complete = client.search_imports(
                created_since=datetime.fromtimestamp(window_start(identity), tz=UTC))
        except CanvasError as error:
            self.trouble(batch, BatchState.SUBMITTING, error)
            return
        now = self.store.clock()
        known = self.store.import_ids(batch.institution, client.base_url)
        judgement = judge(recent, identity, known=known, now=now, settles_at=settles_at,
                          wait_until=identity.started_at + self.settings.max_import_seconds,
                          poll_seconds=poll_delay(now - identity.started_at,
                                                  initial=self.settings.poll_initial_seconds,
                                                  maximum=self.settings.poll_max_seconds))
        if batch.identity is None:
            judgement = _without_names(judgement)
        if not complete:
            judgement = _incomplete(judgement, now, identity.started_at +
                                    self.settings.max_import_seconds)
        if batch.post_settles_at is None:
            # The gateway stopped during the POST: fix the bound now, so that later stops
            # while it only waits are not counted as interruptions of a POST.
            with self.store.transaction() as txn:
                txn.update("batch", batch.id, BatchState.SUBMITTING,
                           post_settles_at=settles_at)
        log.info("reconciled", extra={"batch_id": batch.id,
                                      "verdict": judgement.verdict.value,
                                      "why": judgement.why})
        self._apply(batch, identity, judgement, client.base_url)

    def settles_at(self, batch: BatchRecord) -> float:
        """When no import of the current attempt can still appear: recorded when the POST
        ended, else (the gateway stopped during the POST) the longest the POST could last."""
        if batch.post_settles_at is not None:
            return batch.post_settles_at
        started = batch.submitted_at or batch.created_at
        return started + self.settings.request_timeout_seconds + \
            self.settings.reconcile_grace_seconds

    def _apply(self, batch: BatchRecord, identity: AttemptIdentity, judgement: Judgement,
               canvas: str) -> None:
        evidence = judgement.evidence(self.store.clock())
        if judgement.duplicates:
            self.alert_duplicates(batch, judgement.duplicates, evidence)
        if judgement.verdict is Verdict.ADOPT:
            assert judgement.adopted is not None
            self.record_posted(batch.id, judgement.adopted, identity.attempt, canvas, evidence)
        elif judgement.verdict is Verdict.WAIT:
            with self.store.transaction() as txn:
                txn.update("batch", batch.id, BatchState.SUBMITTING, reconcile_json=evidence,
                           trouble_since=None, next_attempt_at=judgement.check_at or txn.now)
        elif judgement.verdict is Verdict.REPOST:
            with self.store.transaction() as txn:
                txn.move("batch", batch.id, BatchState.SUBMITTING, BatchState.READY,
                         reason=f"not in Canvas ({judgement.why}); sending again",
                         reconcile_json=evidence, trouble_since=None)
        else:
            with self.store.transaction() as txn:
                txn.update("batch", batch.id, BatchState.SUBMITTING, reconcile_json=evidence)
            self.hold(batch, BatchState.SUBMITTING,
                      f"Canvas may or may not have this batch: {judgement.why}. Check the "
                      "account's SIS imports: one carrying this batch's files (`gateway "
                      "show` lists their names in Canvas and what Canvas showed), or one "
                      "still created or importing that shows no files yet, may be it. Then "
                      "requeue or skip the batch.")

    def alert_duplicates(self, batch: BatchRecord, duplicates: tuple[int, ...],
                         evidence: dict[str, Any]) -> None:
        """Tell ops at once: Canvas holds more imports of this batch than the gateway made
        on purpose.  The evidence stays with the batch for ``gateway show``."""
        reason = (f"Canvas shows more than one import of batch {batch.id}: import "
                  f"{', '.join(map(str, duplicates))} carries its files; check them in Canvas")
        with self.store.transaction() as txn:
            current = self.store.batch(batch.id)
            txn.update("batch", batch.id, current.state,
                       reconcile_json={**evidence, "duplicates": list(duplicates)})
            txn.add_notice(DUPLICATE_ALERT, batch.institution, batch.id,
                           batch_state=current.state, reason=reason)
        log.error("duplicate Canvas import", extra={"batch_id": batch.id,
                                                    "canvas_imports": list(duplicates)})

    # -- polling ---------------------------------------------------------------------------

    def poll(self, client: CanvasClient, batch: BatchRecord) -> bool:
        """Check an IMPORTING batch; returns True when it reached its end."""
        return self.follower.poll(client, batch)

    # -- trouble ---------------------------------------------------------------------------

    def trouble(self, batch: BatchRecord, current: BatchState, error: CanvasError) -> None:
        """Hold the queue on a permanent error; on a transient one, try this same step again
        later (the batch keeps its state: a SUBMITTING batch is reconciled again, never
        re-posted blindly)."""
        if not error.transient:
            self.hold(batch, current, f"Canvas refused the request: {error}")
            return
        log.warning("Canvas trouble", extra={"batch_id": batch.id, "error": str(error)})
        self.back_off(batch, str(error))

    def back_off(self, batch: BatchRecord, reason: str) -> None:
        """Retry a batch's step later in whatever state it is in; hold it for an operator
        once the trouble has lasted ``retry_lifetime_seconds`` (the clock restarts on any
        request that succeeds)."""
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

    def later(self, batch: BatchRecord, current: BatchState, delay: float) -> None:
        """Look again in ``delay`` seconds after a request that succeeded."""
        with self.store.transaction() as txn:
            txn.update("batch", batch.id, current, next_attempt_at=txn.now + delay,
                       trouble_since=None)

    def hold(self, batch: BatchRecord, current: BatchState, reason: str) -> None:
        """Stop the institution's queue at this batch, with the reason and a report."""
        with self.store.transaction() as txn:
            hold(txn, batch, current, reason)
        log.error("batch held", extra={"batch_id": batch.id, "institution": batch.institution,
                                       "reason": reason})


def attempt_identity(batch: BatchRecord) -> AttemptIdentity:
    """The batch's current attempt; a batch submitted before identities were recorded gets
    one without user or names, so only the conservative rules apply to it."""
    if batch.identity:
        return AttemptIdentity.from_json(batch.identity)
    return AttemptIdentity(batch.id, max(batch.attempts, 1), None,
                           batch.submitted_at or batch.created_at, dict(batch.options))


def _without_names(judgement: Judgement) -> Judgement:
    """A batch posted by a gateway version that recorded no attempt identity has no names
    to look for: an import by anyone that is not accounted for may be its own, so the
    batch is held rather than posted again."""
    unexplained = [i for i, reading in judgement.readings
                   if reading is not Reading.RECORDED]
    if judgement.verdict is not Verdict.REPOST or not unexplained:
        return judgement
    return replace(judgement, verdict=Verdict.HOLD,
                   why=f"the batch was posted before attempts were recorded, and Canvas "
                       f"import {', '.join(map(str, unexplained))} may be it")


def _incomplete(judgement: Judgement, now: float, wait_until: float) -> Judgement:
    """Canvas listed more imports than the gateway read (the oldest, where the attempt's
    would be, were left out): never post again on such a list; wait, then hold."""
    if judgement.verdict is not Verdict.REPOST:
        return judgement
    why = "Canvas lists more imports since the attempt began than the gateway can read"
    if now < wait_until:
        return replace(judgement, verdict=Verdict.WAIT, check_at=now + 60.0, why=why)
    return replace(judgement, verdict=Verdict.HOLD, why=why)


def _api_user_id(client: CanvasClient) -> int | None:
    """The token's Canvas user id; None when the token may not read it (a scoped token):
    every import then counts as possibly ours.  Raises CanvasError when Canvas is in
    trouble or refuses the token itself."""
    try:
        user = client.current_user()
    except CanvasError as error:
        if error.transient or error.status == 401:
            raise
        return None
    user_id = user.get("id")
    return int(user_id) if isinstance(user_id, int | str) and str(user_id).isdigit() else None


def hold(txn: StoreTransaction, batch: BatchRecord, current: BatchState, reason: str) -> None:
    """Move a batch to HELD with its reason and queue the report saying so."""
    txn.move("batch", batch.id, current, BatchState.HELD, reason=reason, trouble_since=None)
    txn.add_notice(BATCH_REPORT, batch.institution, batch.id, batch_state=BatchState.HELD,
                   reason=reason)
