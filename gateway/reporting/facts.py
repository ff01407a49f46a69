"""The facts a report states: plain values assembled from the store, rendered by templates.

Reports never read the store themselves; the notifier builds one of these and hands it to
the renderer, which keeps rendering a pure function that tests can drive directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gateway.state.records import FindingRecord as Finding

__all__ = ["BatchReport", "CanvasMessage", "Finding", "Outcome", "ReceivedFile"]


class Outcome(StrEnum):
    """What happened to a batch (or to uploads that never became one), in sender terms."""

    ACCEPTED = "accepted"  # the receipt: formed and on its way to Canvas
    IMPORTED = "imported"
    IMPORTED_WITH_MESSAGES = "imported_with_messages"
    FAILED = "failed"
    HELD = "held"
    REJECTED = "rejected"
    OVERDUE = "overdue"  # an ops alert: Canvas has been importing for too long
    UNDELIVERED = "undelivered"  # an ops alert: a report could not be delivered
    DUPLICATE = "duplicate"  # an ops alert: Canvas shows more than one import of a batch
    GATEWAY_ERROR = "gateway_error"  # an ops alert: the gateway failed on an upload or batch


OUTCOME_WORDS: dict[Outcome, str] = {
    Outcome.ACCEPTED: "Accepted",
    Outcome.IMPORTED: "Imported",
    Outcome.IMPORTED_WITH_MESSAGES: "Imported with warnings",
    Outcome.FAILED: "Failed",
    Outcome.HELD: "Held",
    Outcome.REJECTED: "Rejected",
    Outcome.OVERDUE: "Still importing",
    Outcome.UNDELIVERED: "Report not delivered",
    Outcome.DUPLICATE: "Imported twice?",
    Outcome.GATEWAY_ERROR: "Gateway error",
}


@dataclass(frozen=True)
class ReceivedFile:
    """One uploaded file as the gateway received and sorted it."""

    name: str
    size: int
    sha256: str
    kind: str | None
    rows: int | None
    problem: str | None = None


@dataclass(frozen=True)
class CanvasMessage:
    """One processing error or warning Canvas reported for an import."""

    file: str | None
    message: str


@dataclass(frozen=True)
class BatchReport:
    """Everything one report tells its reader about one batch.

    ``reference`` is a stable, human-quotable name (``batch-000012``, ``upload-000034``) used
    in subjects and report file names.  ``batch_id`` is the batch's number among its
    institution's batches (the reference's number: never the gateway-wide id, which would
    tell one institution another's volume); None for uploads rejected before any batch was
    formed.  Times are UTC.
    """

    institution: str
    reference: str
    batch_id: int | None
    outcome: Outcome
    files: tuple[ReceivedFile, ...]
    received_at: datetime
    canvas_import_id: int | None = None
    canvas_state: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    canvas_errors: tuple[CanvasMessage, ...] = ()
    canvas_warnings: tuple[CanvasMessage, ...] = ()
    posted_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None
    next_step: str = ""
    findings: tuple[Finding, ...] = ()
    findings_total: int = 0
    notes: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()

    @property
    def findings_omitted(self) -> int:
        """How many findings the report lists only in the attached CSV."""
        return max(0, self.findings_total - len(self.findings))

    @property
    def outcome_words(self) -> str:
        """The outcome in plain words, as subjects and headings state it."""
        return OUTCOME_WORDS[self.outcome]
