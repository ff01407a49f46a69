"""The webhook runner: tells each configured webhook of every event, once, through the outbox.

Each hook keeps a cursor over the notices table: new notices that are events for it (see
``gateway.reporting.webhooks``) become PENDING deliveries in the same transaction that moves
its cursor, so an event is neither skipped nor queued twice, across restarts too.  A hook
seen for the first time starts at the newest notice (no history is replayed).  Deliveries
are POSTed with backoff: 2xx is SENT; a 4xx other than 408 and 429 is FAILED at once (the
hook refuses it); anything else is retried until the hook's lifetime, then FAILED.  Errors
are recorded as the status or the exception's type only: a URL (a secret) never reaches the
store or the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import requests

from gateway.forwarding.backoff import retry_delay
from gateway.reporting.webhooks import Hook, event_id, event_of, payload
from gateway.runner import Runner
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord, HookDeliveryRecord
from gateway.state.states import NoticeState, TransitionError

log = logging.getLogger(__name__)

_RETRIED_STATUSES = frozenset({408, 429})


class HookSender(Runner):
    """Queues and delivers webhook events (see the module docstring)."""

    name = "webhooks"

    def __init__(self, *, store: StateStore, hooks: Sequence[Hook],
                 session: requests.Session | None = None) -> None:
        super().__init__(idle_seconds=2.0)
        self._store = store
        self._hooks = {hook.name: hook for hook in hooks}
        self._session = session or requests.Session()

    def step(self) -> bool:
        """Queue new events for every hook, then try each due delivery; True if any."""
        queued = [self._queue(hook) for hook in self._hooks.values()]
        due = [d for d in self._store.hook_deliveries(due_by=self._store.clock())
               if d.hook in self._hooks]  # a hook no longer configured keeps its queue
        for delivery in due:
            self._deliver(self._hooks[delivery.hook], delivery)
        return any(queued) or bool(due)

    def _queue(self, hook: Hook) -> bool:
        cursor = self._store.hook_cursor(hook.name)
        if cursor is None:
            with self._store.transaction() as txn:
                txn.queue_hook_events(hook.name, {}, self._store.last_notice_id())
            log.info("webhook started", extra={"hook": hook.name})
            return False
        notices = self._store.notices_after(cursor)
        if not notices:
            return False
        events = {n.id: event for n in notices
                  if (event := event_of(n)) is not None and event in hook.events}
        with self._store.transaction() as txn:
            txn.queue_hook_events(hook.name, events, notices[-1].id)
        return bool(events)

    def _deliver(self, hook: Hook, delivery: HookDeliveryRecord) -> None:
        notice = self._store.notice(delivery.notice_id)
        batch = self._batch(notice.batch_id)
        try:
            answer = self._session.post(
                hook.url.get_secret_value(), timeout=hook.timeout_seconds,
                json=payload(hook.format, delivery.event, notice, batch),
                headers={"User-Agent": "sis-gateway", "X-Gateway-Event-Id": event_id(notice)},
                allow_redirects=False)
        except requests.RequestException as error:
            # The exception's text can quote the URL: only its type is kept.
            self._failed(hook, delivery, type(error).__name__, retry=True)
            return
        if 200 <= answer.status_code < 300:
            self._record(delivery, NoticeState.SENT)
            log.info("webhook delivered", extra={"hook": hook.name, "event": delivery.event,
                                                 "notice_id": delivery.notice_id})
            return
        retry = answer.status_code >= 500 or answer.status_code in _RETRIED_STATUSES
        self._failed(hook, delivery, f"HTTP {answer.status_code}", retry=retry)

    def _batch(self, batch_id: int | None) -> BatchRecord | None:
        if batch_id is None:
            return None
        try:
            return self._store.batch(batch_id)
        except KeyError:
            return None

    def _failed(self, hook: Hook, delivery: HookDeliveryRecord, error: str, *,
                retry: bool) -> None:
        attempts = delivery.attempts + 1
        expired = self._store.clock() - delivery.created_at > hook.lifetime_seconds
        if retry and not expired:
            delay = retry_delay(attempts, initial=hook.retry_initial_seconds,
                                maximum=hook.retry_max_seconds)
            self._record(delivery, NoticeState.PENDING, error=error,
                         next_attempt_at=self._store.clock() + delay)
            log.warning("webhook not delivered; retrying", extra={
                "hook": hook.name, "event": delivery.event, "error": error,
                "attempts": attempts, "retry_in_seconds": round(delay, 1)})
            return
        self._record(delivery, NoticeState.FAILED, error=error)
        log.error("webhook given up", extra={"hook": hook.name, "event": delivery.event,
                                             "error": error, "attempts": attempts})

    def _record(self, delivery: HookDeliveryRecord, state: NoticeState, *,
                error: str | None = None, next_attempt_at: float | None = None) -> None:
        try:
            with self._store.transaction() as txn:
                txn.hook_attempted(delivery, state, error=error,
                                   next_attempt_at=next_attempt_at)
        except TransitionError as moved:  # another node or an operator got there first
            log.warning("webhook delivery changed meanwhile: %s", moved)
