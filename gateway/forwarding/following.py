"""Following a posted import to its end, and what Canvas shows only after the end.

A terminal ``workflow_state`` ends the import (never ``progress``).  Two things can come
later, so the batch keeps looking for up to ``errors_file_wait_seconds`` after the end
before its result is reported:

- the errors CSV: production Canvas writes it in a delayed job *after* the import reached
  its terminal state (canvas-lms `app/models/sis_batch.rb` `do_batch_end_work`:
  `delay_if_production.write_errors_to_file`); the report says so when none came;
- another import of the same batch (a POST Canvas received after the gateway gave up on
  it): Canvas runs an account's imports one at a time in creation order, so a later one
  shows its files only after this one ended.  One carrying the batch's names alerts ops:
  a duplicate is never silent.
"""

from __future__ import annotations

import csv
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

from gateway.forwarding.backoff import poll_delay
from gateway.forwarding.canvas import (
    TERMINAL_STATES,
    CanvasClient,
    CanvasError,
    parse_canvas_time,
)
from gateway.forwarding.reconcile import SERVER_CLOCKS_SECONDS, later_imports
from gateway.settings import ForwardingSettings
from gateway.sorting.identity import AttemptIdentity
from gateway.sorting.sorter import BATCH_REPORT
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool
from gateway.state.states import BatchState, NoticeKind

log = logging.getLogger(__name__)

OPS_ALERT = NoticeKind.OPS_ALERT
"""A notice for ops only: an import running too long."""
DUPLICATE_ALERT = NoticeKind.DUPLICATE_ALERT
"""A notice for ops only: Canvas shows more than one import of a batch."""

_OUTCOMES = {"imported": BatchState.IMPORTED,
             "imported_with_messages": BatchState.IMPORTED_WITH_MESSAGES}
NO_ERRORS_FILE = "no_errors_file"
"""``errors_csv`` value when Canvas reported messages but gave no errors file in time."""
ERRORS_FILE_NOT_DOWNLOADED = "errors_file_not_downloaded"
"""``errors_csv`` value when Canvas gave an errors file the gateway could not download."""


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

    def __init__(self, store: StateStore, spool: Spool, settings: ForwardingSettings,
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
            return self._at_end(client, batch, state, answer, now)
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

    def _at_end(self, client: CanvasClient, batch: BatchRecord, state: str,
                answer: dict[str, Any], now: float) -> bool:
        """Canvas ended the import.  Until ``errors_file_wait_seconds`` after first seeing
        that, wait for what comes later (the errors file; the files of a later import that
        may be this batch's again); then finish.  Returns True when finished."""
        seen = batch.terminal_seen_at if batch.terminal_seen_at is not None else now
        in_time = now - seen < self._settings.errors_file_wait_seconds
        errors_csv = self._keep_errors_csv(client, batch, answer)
        duplicates, undecided = self._later_imports(client, batch, answer)
        awaited = (errors_csv in (None, ERRORS_FILE_NOT_DOWNLOADED)
                   and expects_errors_file(answer)) or undecided
        if in_time and awaited:
            self._wait_at_end(batch, state, answer, seen, now)
            return False
        if duplicates:
            self._steps.alert_duplicates(batch, duplicates, dict(batch.reconcile or {}))
        if errors_csv is None and expects_errors_file(answer):
            errors_csv = NO_ERRORS_FILE
        self._finish(batch, state, answer, errors_csv)
        return True

    def _wait_at_end(self, batch: BatchRecord, state: str, answer: dict[str, Any],
                     seen: float, now: float) -> None:
        delay = poll_delay(now - seen, initial=self._settings.poll_initial_seconds,
                           maximum=self._settings.poll_max_seconds)
        with self._store.transaction() as txn:
            txn.update("batch", batch.id, BatchState.IMPORTING, canvas_state=state,
                       canvas_json=answer, terminal_seen_at=seen, trouble_since=None,
                       next_attempt_at=txn.now + delay)

    def _finish(self, batch: BatchRecord, state: str, answer: dict[str, Any],
                errors_csv: str | None) -> None:
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
        """Canvas's errors CSV kept beside the batch: its file name, None when Canvas shows
        none (yet), ERRORS_FILE_NOT_DOWNLOADED when the download failed (tried again)."""
        destination = self._spool.batch_errors_path(batch.id)
        attachment = answer.get("errors_attachment")
        url = attachment.get("url") if isinstance(attachment, dict) else None
        if not url:
            return None
        if batch.import_id is not None and _holds_errors_of(destination, batch.import_id):
            return destination.name  # kept at an earlier look (a requeued batch's is older)
        try:
            client.download(urljoin(client.base_url, str(url)), destination)
        except CanvasError as error:
            log.warning("errors CSV not downloaded",
                        extra={"batch_id": batch.id, "error": str(error)})
            return ERRORS_FILE_NOT_DOWNLOADED
        return destination.name

    def _later_imports(self, client: CanvasClient, batch: BatchRecord,
                       answer: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(duplicates, undecided) among the imports Canvas made since this one (see
        reconcile.later_imports); nothing when the batch has no recorded identity or Canvas
        cannot be asked now (a failed look only logs)."""
        if not batch.identity:
            return (), ()
        identity = AttemptIdentity.from_json(batch.identity)
        created = parse_canvas_time(answer.get("created_at"))
        if created is None:
            return (), ()
        try:
            recent, _ = client.search_imports(
                created_since=created - timedelta(seconds=SERVER_CLOCKS_SECONDS))
        except CanvasError as error:
            log.warning("duplicate check failed",
                        extra={"batch_id": batch.id, "error": str(error)})
            return (), ()
        known = self._store.import_ids(batch.institution, client.base_url)
        return later_imports(recent, identity, known=known, ours=answer)

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
                log.error("abort failed", extra={"batch_id": batch.id,
                                                 "import_id": batch.import_id,
                                                 "error": str(error)})


def _holds_errors_of(path: Path, import_id: int) -> bool:
    """Whether ``path`` is Canvas's errors CSV of import ``import_id`` (every row of that
    file starts with the import's id: `SisBatch#write_errors_to_file`)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = csv.reader(handle)
            next(rows, None)  # sis_import_id,file,message,row
            first = next(rows, None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return first is not None and bool(first) and first[0] == str(import_id)
