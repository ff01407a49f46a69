"""The explicit states of uploads, batches and notices, and the transitions allowed between them.

No code assigns a state directly: the store's ``transition`` checks every change against these
tables and performs it as one compare-and-set, so a state can only move along an edge drawn
here, and two actors racing for the same record cannot both win.
"""

from __future__ import annotations

from enum import StrEnum


class UploadState(StrEnum):
    """A received file."""

    RECEIVED = "received"  # durable in the spool, not yet sorted
    ACCEPTED = "accepted"  # part of a batch bound for Canvas
    REJECTED = "rejected"  # not importable; the batch report says why


class BatchState(StrEnum):
    """A group of uploads that becomes one Canvas SIS import."""

    OPEN = "open"  # members chosen; zip not built yet
    READY = "ready"  # zip built; waiting for its turn
    SUBMITTING = "submitting"  # POST under way (or its outcome unknown after a crash)
    DEFERRED = "deferred"  # transient trouble; next_attempt_at says when to try again
    IMPORTING = "importing"  # Canvas accepted it; polling for the end
    IMPORTED = "imported"
    IMPORTED_WITH_MESSAGES = "imported_with_messages"
    FAILED = "failed"  # Canvas ended it unsuccessfully; later batches wait for an operator
    HELD = "held"  # stopped for an operator (permanent error, uncertain POST, recoveries)
    REJECTED = "rejected"  # nothing in it was importable; never sent
    SKIPPED = "skipped"  # an operator chose not to send it


class NoticeState(StrEnum):
    """A report or alert in the outbox."""

    PENDING = "pending"  # to send at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # gave up after its lifetime; ops were alerted


class ExportRunState(StrEnum):
    """One run of an institution's export: one Canvas account report for one slot."""

    SCHEDULED = "scheduled"  # due; no Canvas report started yet
    STARTING = "starting"  # POST under way (or its outcome unknown after a crash)
    STARTED = "started"  # Canvas has the report (report_id known); polling
    DOWNLOADED = "downloaded"  # the file is in the spool; not yet in the outbox
    PUBLISHED = "published"  # in the institution's /outbox
    FAILED = "failed"  # Canvas ended it in error, or trouble outlived its lifetime


class NoticeKind(StrEnum):
    """What a notice in the outbox reports, and so who receives it."""

    BATCH_RECEIPT = "batch_receipt"  # a batch was formed and is on its way to Canvas
    BATCH_REPORT = "batch_report"  # a batch ended (imported, failed, held, rejected)
    OPS_ALERT = "ops_alert"  # ops only: an import running too long
    DUPLICATE_ALERT = "duplicate_import"  # ops only: Canvas shows a batch imported twice
    DELIVERY_FAILED = "delivery_failed"  # ops only: another notice could not be delivered
    GATEWAY_ERROR = "gateway_error"  # ops only: the gateway failed on an upload or a batch
    EXPORT_PUBLISHED = "export_published"  # an export run's file is in the /outbox
    EXPORT_FAILED = "export_failed"  # an export run ended without a file


OPS_ONLY_NOTICES = frozenset({NoticeKind.OPS_ALERT, NoticeKind.DUPLICATE_ALERT,
                              NoticeKind.DELIVERY_FAILED, NoticeKind.GATEWAY_ERROR})
"""Notices that go to ops and never to the institution (nor into its SFTP folder)."""


UPLOAD_TRANSITIONS: dict[UploadState, frozenset[UploadState]] = {
    UploadState.RECEIVED: frozenset({UploadState.ACCEPTED, UploadState.REJECTED}),
    UploadState.ACCEPTED: frozenset(),
    UploadState.REJECTED: frozenset(),
}

BATCH_TRANSITIONS: dict[BatchState, frozenset[BatchState]] = {
    BatchState.OPEN: frozenset({BatchState.READY, BatchState.REJECTED, BatchState.HELD}),
    BatchState.READY: frozenset({BatchState.SUBMITTING, BatchState.HELD, BatchState.SKIPPED}),
    BatchState.SUBMITTING: frozenset(
        {BatchState.IMPORTING, BatchState.DEFERRED, BatchState.READY, BatchState.HELD}
    ),
    BatchState.DEFERRED: frozenset({BatchState.READY, BatchState.HELD}),
    BatchState.IMPORTING: frozenset(
        {BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES, BatchState.FAILED,
         BatchState.HELD}
    ),
    BatchState.IMPORTED: frozenset(),
    BatchState.IMPORTED_WITH_MESSAGES: frozenset(),
    BatchState.FAILED: frozenset({BatchState.READY, BatchState.OPEN, BatchState.SKIPPED}),
    BatchState.HELD: frozenset(
        {BatchState.READY, BatchState.OPEN, BatchState.IMPORTING, BatchState.SKIPPED}
    ),
    BatchState.REJECTED: frozenset(),
    BatchState.SKIPPED: frozenset(),
}

NOTICE_TRANSITIONS: dict[NoticeState, frozenset[NoticeState]] = {
    NoticeState.PENDING: frozenset({NoticeState.PENDING, NoticeState.SENT, NoticeState.FAILED}),
    NoticeState.SENT: frozenset(),
    NoticeState.FAILED: frozenset({NoticeState.PENDING}),
}

EXPORT_RUN_TRANSITIONS: dict[ExportRunState, frozenset[ExportRunState]] = {
    ExportRunState.SCHEDULED: frozenset({ExportRunState.STARTING, ExportRunState.FAILED}),
    # STARTING -> SCHEDULED: the reconcile found no report of ours, so it may be posted again.
    ExportRunState.STARTING: frozenset(
        {ExportRunState.STARTED, ExportRunState.SCHEDULED, ExportRunState.FAILED}),
    ExportRunState.STARTED: frozenset({ExportRunState.DOWNLOADED, ExportRunState.FAILED}),
    ExportRunState.DOWNLOADED: frozenset({ExportRunState.PUBLISHED, ExportRunState.FAILED}),
    ExportRunState.PUBLISHED: frozenset(),
    ExportRunState.FAILED: frozenset(),
}

FINISHED_BATCH_STATES = frozenset(
    {BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES, BatchState.REJECTED,
     BatchState.SKIPPED}
)
"""Batches in these states no longer hold back the later batches of their institution."""

IN_FLIGHT_BATCH_STATES = frozenset({BatchState.OPEN, BatchState.SUBMITTING})
"""States a crash can interrupt mid-action; recovery counts each interruption."""


class TransitionError(Exception):
    """A transition is not drawn in the tables, or the record was not in the expected state."""
