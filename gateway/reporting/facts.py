"""The facts a report states: plain values assembled from the store, rendered by templates.

Reports never read the store themselves; the notifier builds one of these and hands it to
the renderer, which keeps rendering a pure function that tests can drive directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gateway.state.records import FindingRecord as Finding
from gateway.state.report_names import ReportStage

__all__ = ["BatchReport", "CanvasMessage", "FileFate", "Finding", "Outcome", "ReceivedFile"]


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


class FileFate(StrEnum):
    """What became of one uploaded file, as its batch's report states it."""

    ACCEPTED = "accepted"  # the receipt: goes to Canvas with its batch
    IMPORTED = "imported"
    IMPORTED_WITH_WARNINGS = "imported_with_warnings"
    REJECTED = "rejected"  # never sent: the sender must fix it and upload it again
    REPLACED = "replaced"  # never sent: a later file of its kind took its place
    FAILED = "failed"  # sent; Canvas failed the import
    HELD = "held"  # its batch waits for the gateway operator


FATE_WORDS: dict[FileFate, str] = {
    FileFate.ACCEPTED: "accepted",
    FileFate.IMPORTED: "imported",
    FileFate.IMPORTED_WITH_WARNINGS: "imported with warnings",
    FileFate.REJECTED: "rejected: not sent",
    FileFate.REPLACED: "replaced by a later file: not sent",
    FileFate.FAILED: "sent: the import failed",
    FileFate.HELD: "held",
}
NOT_SENT = frozenset({FileFate.REJECTED, FileFate.REPLACED})
"""Fates of files that never reach Canvas."""


@dataclass(frozen=True)
class ReceivedFile:
    """One uploaded file as the gateway received and sorted it.

    ``fate`` is None where the report states none (ops alerts); ``next_step`` says what
    the sender does about this file (a rejected file: fix it and upload it again).
    """

    name: str
    size: int
    sha256: str
    kind: str | None
    rows: int | None
    problem: str | None = None
    fate: FileFate | None = None
    next_step: str | None = None

    @property
    def fate_words(self) -> str:
        """The fate in plain words (``rejected: not sent``); empty when none is stated."""
        return FATE_WORDS[self.fate] if self.fate is not None else ""


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
        """The outcome in plain words (``Imported with warnings``), whatever became of
        single files; :attr:`headline` adds the files left out."""
        return OUTCOME_WORDS[self.outcome]

    @property
    def rejected_files(self) -> tuple[ReceivedFile, ...]:
        """The files that were not sent because they must be fixed (not the replaced)."""
        return tuple(file for file in self.files if file.fate is FileFate.REJECTED)

    @property
    def headline(self) -> str:
        """The outcome as subjects and the report's top state it: the outcome words, or
        ``Partly imported: 1 of 2 files rejected`` when the batch went on without some of
        its files (so a batch with a rejected file never reads as a success)."""
        rejected, total = len(self.rejected_files), len(self.files)
        if not rejected or rejected == total:
            return self.outcome_words
        left_out = f"{rejected} of {total} files rejected"
        if self.outcome in (Outcome.IMPORTED, Outcome.IMPORTED_WITH_MESSAGES):
            return f"Partly imported: {left_out}"
        if self.outcome is Outcome.ACCEPTED:
            return f"Partly accepted: {left_out}"
        return f"{self.outcome_words}; {left_out}"

    @property
    def stage(self) -> ReportStage:
        """Which of the batch's two reports this is: the receipt, or the result."""
        return ReportStage.RECEIPT if self.outcome is Outcome.ACCEPTED else ReportStage.RESULT
