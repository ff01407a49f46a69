"""Following a posted import to its end, and what Canvas gives only after the end.

A terminal ``workflow_state`` ends the import (never ``progress``).  In production Canvas
writes the errors CSV in a delayed job *after* the import reached its terminal state
(canvas-lms `app/models/sis_batch.rb` `do_batch_end_work`: `delay_if_production
.write_errors_to_file`), so when the import has messages and no ``errors_attachment`` yet,
the batch keeps polling for up to ``errors_file_wait_seconds`` before its result is
reported; the report says so when Canvas gave none.  A batch whose POST answer was ever lost
(or that was posted more than once) is checked once more at its end for a second import
carrying its files: a duplicate is never silent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin

from gateway.forwarding.backoff import poll_delay
from gateway.forwarding.canvas import TERMINAL_STATES, CanvasClient, CanvasError
from gateway.forwarding.reconcile import CLOCK_SKEW_SECONDS, attachment_names
from gateway.settings import ForwardingSettings
from gateway.sorting.identity import AttemptIdentity, attempt_of
from gateway.sorting.sorter import BATCH_REPORT
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool
from gateway.state.states import BatchState
from gateway.state.store import Store

log = logging.getLogger(__name__)

OPS_ALERT = "ops_alert"
"""A notice for ops only: an import running too long."""
DUPLICATE_ALERT = "duplicate_import"
"""A notice for ops only: Canvas shows more than one import of a batch."""

_OUTCOMES = {"imported": BatchState.IMPORTED,
             "imported_with_messages": BatchState.IMPORTED_WITH_MESSAGES}
NO_ERRORS_FILE = "no_errors_file"
"""``errors_csv`` value when Canvas reported messages but gave no errors file in time."""


def expects_errors_file(answer: dict[str, Any]) -> bool:
    """Whether Canvas will attach an errors CSV: it writes one when the import has any
    error or warning row (`do_batch_end_work`: `write_errors_to_file if @has_errors`)."""
    counts = (answer.get("data") or {}).get("counts") or {}
    messages = int(counts.get("error_count") or 0) + int(counts.get("warning_count") or 0)
    return bool(messages or answer.get("processing_errors")
                or answer.get("processing_warnings"))


class StepActions(Protocol):
    """What following needs from the other forwarding steps."""

    def trouble(self, batch: BatchRecord, current: BatchState, error: CanvasError) -> None:
        """Back off (transient) or hold (permanent) after a failed request."""

    def alert_duplicates(self, batch: BatchRecord, duplicates: tuple[int, ...],
                         evidence: dict[str, Any]) -> None:
        """Tell ops that Canvas holds more than one import of the batch."""


class ImportFollower:
    """Polls an IMPORTING batch, waits for the errors file, and finishes the batch."""

    def __init__(self, store: Store, spool: Spool, settings: ForwardingSettings,
                 steps: StepActions) -> None:
        self._store = store
        self._spool = spool
        self._settings = settings
        self._steps = steps

    def poll(self, client: CanvasClient, batch: BatchRecord) -> bool:
        """Check an IMPORTING batch; returns True when it reached its end."""
        assert batch.import_id is not None
        try:
            answer = client.get_import(batch.import_id)
        except CanvasError as error:
            self._steps.trouble(batch, BatchState.IMPORTING, error)
            return False
        state = str(answer.get("workflow_state"))
        now = self._store.clock()
        if state in TERMINAL_STATES:
            if self._errors_file_due(batch, answer, now):
                self._wait_for_errors_file(batch, state, answer, now)
                return False
            self._finish(client, batch, state, answer)
            return True
        elapsed = now - (batch.posted_at or batch.created_at)
        with self._store.transaction() as txn:
            txn.update("batch", batch.id, BatchState.IMPORTING, canvas_state=state,
                       canvas_json=answer, trouble_since=None,
                       next_attempt_at=txn.now + poll_delay(
                           elapsed, initial=self._settings.poll_initial_seconds,
                           maximum=self._settings.poll_max_seconds))
        if elapsed > self._settings.max_import_seconds and batch.alerted_at is None:
            self._overdue(client, batch, elapsed)
        return False

    def _errors_file_due(self, batch: BatchRecord, answer: dict[str, Any], now: float) -> bool:
        """True while an errors file Canvas will write has not appeared and may still."""
        if answer.get("errors_attachment") or not expects_errors_file(answer):
            return False
        seen = batch.terminal_seen_at if batch.terminal_seen_at is not None else now
        return now - seen < self._settings.errors_file_wait_seconds

    def _wait_for_errors_file(self, batch: BatchRecord, state: str, answer: dict[str, Any],
                              now: float) -> None:
        seen = batch.terminal_seen_at if batch.terminal_seen_at is not None else now
        delay = poll_delay(now - seen, initial=self._settings.poll_initial_seconds,
                           maximum=self._settings.poll_max_seconds)
        with self._store.transaction() as txn:
            txn.update("batch", batch.id, BatchState.IMPORTING, canvas_state=state,
                       canvas_json=answer, terminal_seen_at=seen, trouble_since=None,
                       next_attempt_at=txn.now + delay)

    def _finish(self, client: CanvasClient, batch: BatchRecord, state: str,
                answer: dict[str, Any]) -> None:
        errors_csv = self._keep_errors_csv(client, batch, answer)
        if errors_csv is None and expects_errors_file(answer):
            errors_csv = NO_ERRORS_FILE
        self._check_duplicates(client, batch)
        outcome = _OUTCOMES.get(state, BatchState.FAILED)
        with self._store.transaction() as txn:
            reason = None if outcome is not BatchState.FAILED else \
                f"Canvas ended the import as {state}"
            txn.move("batch", batch.id, BatchState.IMPORTING, outcome, reason=reason,
                     canvas_state=state, canvas_json=answer, finished_at=txn.now,
                     errors_csv=errors_csv, trouble_since=None, recoveries=0)
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
        destination = self._spool.batch_errors_path(batch.id)
        try:
            client.download(urljoin(client.base_url, str(url)), destination)
        except CanvasError as error:
            log.warning("errors CSV not downloaded: %s", error, extra={"batch_id": batch.id})
            return None
        return destination.name

    def _check_duplicates(self, client: CanvasClient, batch: BatchRecord) -> None:
        """For a batch whose answer was ever lost or that was posted again: does Canvas
        show another import carrying its files?  A failed look only logs."""
        if batch.reconcile is None and batch.attempts <= 1:
            return
        identity = AttemptIdentity.from_json(batch.identity) if batch.identity else None
        offset = identity.canvas_offset if identity else 0.0
        since = datetime.fromtimestamp(batch.created_at + offset - CLOCK_SKEW_SECONDS, tz=UTC)
        try:
            recent = client.list_imports(created_since=since)
        except CanvasError as error:
            log.warning("duplicate check failed: %s", error, extra={"batch_id": batch.id})
            return
        known = self._store.import_ids(batch.institution)
        duplicates = tuple(sorted(
            int(item["id"]) for item in recent
            if item.get("id") not in known
            and any(attempt_of(name, batch.id) is not None for name in attachment_names(item))))
        if duplicates:
            evidence = dict(batch.reconcile or {})
            self._steps.alert_duplicates(batch, duplicates, evidence)

    def _overdue(self, client: CanvasClient, batch: BatchRecord, elapsed: float) -> None:
        """Tell ops once that an import runs too long; abort it if so configured."""
        minutes = int(elapsed // 60)
        reason = f"Canvas has been importing for {minutes} minutes"
        with self._store.transaction() as txn:
            txn.update("batch", batch.id, BatchState.IMPORTING, alerted_at=txn.now,
                       reason=reason)
            txn.add_notice(OPS_ALERT, batch.institution, batch.id,
                           batch_state=BatchState.IMPORTING, reason=reason)
        log.error("import overdue", extra={"batch_id": batch.id, "minutes": minutes})
        if self._settings.abort_after_max_wait and batch.import_id is not None:
            try:
                client.abort_import(batch.import_id)
            except CanvasError as error:
                log.error("abort failed: %s", error, extra={"batch_id": batch.id})
