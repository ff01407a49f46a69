"""Read-only views of the store's rows: uploads, batches, notices, holds and export runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.state.database import Row
from gateway.state.states import BatchState, ExportRunState, NoticeState, UploadState


@dataclass(frozen=True)
class UploadRecord:
    """A received file.  Its bytes live in the spool under its id."""

    id: int
    institution: str
    filename: str
    size: int
    sha256: str
    state: UploadState
    kind: str | None
    rows: int | None
    problem: str | None
    batch_id: int | None
    received_at: float
    folder: str | None = None
    """The upload folder it came through: ``batch/<term_sis_id>`` or ``diff/<identifier>``
    (its delivery's import options); None for plain /inbox."""

    @classmethod
    def from_row(cls, row: Row) -> UploadRecord:
        """Build from a ``SELECT * FROM uploads`` row."""
        return cls(
            id=row["id"], institution=row["institution"], filename=row["filename"],
            size=row["size"], sha256=row["sha256"], state=UploadState(row["state"]),
            kind=row["kind"], rows=row["rows"], problem=row["problem"],
            batch_id=row["batch_id"], received_at=row["received_at"], folder=row["folder"],
        )


@dataclass(frozen=True)
class BatchRecord:
    """One group of uploads and, once posted, its Canvas import."""

    id: int
    institution: str
    state: BatchState
    created_at: float
    next_attempt_at: float
    attempts: int
    recoveries: int
    submitted_at: float | None
    import_id: int | None
    posted_at: float | None
    finished_at: float | None
    canvas_state: str | None
    canvas_json: dict[str, Any] | None
    reason: str | None
    alerted_at: float | None = None
    errors_csv: str | None = None
    trouble_since: float | None = None
    options: dict[str, str] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    guard_ack: bool = False
    identity: dict[str, Any] | None = None
    """The current POST attempt's AttemptIdentity (gateway.sorting.identity), as JSON."""
    post_settles_at: float | None = None
    """When no import of the current attempt can still appear in Canvas (None: the POST
    has not ended, or the gateway stopped during it)."""
    reconcile: dict[str, Any] | None = None
    """The last reconcile's verdict and evidence (what Canvas showed), for ``show``."""
    terminal_seen_at: float | None = None
    """When Canvas was first seen to have ended the import (the errors file may follow)."""
    number: int | None = None
    """The batch's number among its institution's batches (None: not stored yet)."""

    @property
    def reference(self) -> str:
        """What the institution calls this batch (``batch-000012``): reports, file names,
        status.json.  Numbered per institution, unlike ``id`` (the operators' handle)."""
        return f"batch-{self.number or self.id:06d}"

    @classmethod
    def from_row(cls, row: Row) -> BatchRecord:
        """Build from a ``SELECT * FROM batches`` row."""
        canvas = row["canvas_json"]
        return cls(
            id=row["id"], institution=row["institution"], state=BatchState(row["state"]),
            created_at=row["created_at"], next_attempt_at=row["next_attempt_at"],
            attempts=row["attempts"], recoveries=row["recoveries"],
            submitted_at=row["submitted_at"], import_id=row["import_id"],
            posted_at=row["posted_at"], finished_at=row["finished_at"],
            canvas_state=row["canvas_state"],
            canvas_json=json.loads(canvas) if canvas else None, reason=row["reason"],
            alerted_at=row["alerted_at"], errors_csv=row["errors_csv"],
            trouble_since=row["trouble_since"],
            options=json.loads(row["options"] or "{}"),
            row_counts=json.loads(row["row_counts"] or "{}"),
            guard_ack=bool(row["guard_ack"]),
            identity=_json_or_none(row["identity_json"]),
            post_settles_at=row["post_settles_at"],
            reconcile=_json_or_none(row["reconcile_json"]),
            terminal_seen_at=row["terminal_seen_at"],
            number=row["number"],
        )


@dataclass(frozen=True)
class FindingRecord:
    """One validation finding of an upload, as stored (see reporting.facts.Finding)."""

    file: str
    row: int | None
    column: str | None
    message: str
    fix: str
    blocking: bool

    @classmethod
    def from_row(cls, row: Row) -> FindingRecord:
        """Build from a findings row joined with its upload's file name."""
        return cls(file=row["file"], row=row["row"], column=row["column_name"],
                   message=row["message"], fix=row["fix"], blocking=bool(row["blocking"]))


@dataclass(frozen=True)
class NoticeRecord:
    """A report waiting in (or gone from) the outbox."""

    id: int
    kind: str
    institution: str
    batch_id: int | None
    state: NoticeState
    attempts: int
    next_attempt_at: float
    created_at: float
    sent_at: float | None
    last_error: str | None
    batch_state: BatchState | None = None
    reason: str | None = None
    token: str | None = None
    """A random token naming the notice to the outside (its Message-ID), unlike ``id``."""
    prepare_failures: int = 0
    """Tries that failed before any mail was sent (the report could not be built or its
    SFTP copy written); ``attempts`` counts every try, mail outages included."""
    export_run_id: int | None = None
    """The export run an export notice (published, failed) is about."""

    @classmethod
    def from_row(cls, row: Row) -> NoticeRecord:
        """Build from a ``SELECT * FROM notices`` row."""
        return cls(
            id=row["id"], kind=row["kind"], institution=row["institution"],
            batch_id=row["batch_id"], state=NoticeState(row["state"]),
            attempts=row["attempts"], next_attempt_at=row["next_attempt_at"],
            created_at=row["created_at"], sent_at=row["sent_at"], last_error=row["last_error"],
            batch_state=BatchState(row["batch_state"]) if row["batch_state"] else None,
            reason=row["reason"], token=row["token"],
            prepare_failures=row["prepare_failures"],
            export_run_id=row["export_run_id"],
        )


@dataclass(frozen=True)
class DiscardRecord:
    """An upload the intake dropped without receiving it, and why."""

    id: int
    institution: str
    filename: str
    folder: str | None
    size: int
    reason: str
    discarded_at: float
    batch_id: int | None
    """The batch whose reports name it (None: no report has yet)."""

    @classmethod
    def from_row(cls, row: Row) -> DiscardRecord:
        """Build from a ``SELECT * FROM discards`` row."""
        return cls(id=row["id"], institution=row["institution"], filename=row["filename"],
                   folder=row["folder"], size=row["size"], reason=row["reason"],
                   discarded_at=row["discarded_at"], batch_id=row["batch_id"])


@dataclass(frozen=True)
class HookDeliveryRecord:
    """One event on its way to one webhook."""

    hook: str
    notice_id: int
    event: str
    created_at: float
    state: NoticeState
    attempts: int
    last_error: str | None
    """The last failure: ``HTTP <status>`` or the exception's type (never a URL)."""
    next_attempt_at: float
    sent_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> HookDeliveryRecord:
        """Build from a ``SELECT * FROM hook_deliveries`` row."""
        return cls(hook=row["hook"], notice_id=row["notice_id"], event=row["event"],
                   state=NoticeState(row["state"]), attempts=row["attempts"],
                   next_attempt_at=row["next_attempt_at"], created_at=row["created_at"],
                   sent_at=row["sent_at"], last_error=row["last_error"])


@dataclass(frozen=True)
class InstitutionHold:
    """An operator's stop on an institution's queue: its batches are not posted until
    released (imports already under way are followed to their end)."""

    institution: str
    reason: str
    held_at: float

    @classmethod
    def from_row(cls, row: Row) -> InstitutionHold:
        """Build from a ``SELECT * FROM institution_holds`` row."""
        return cls(institution=row["institution"], reason=row["reason"],
                   held_at=row["held_at"])


@dataclass(frozen=True)
class ExportRun:
    """One run of one export: a slot (schedule time, import, request) and where it is."""

    id: int
    institution: str
    export: str
    report: str
    slot: str
    trigger: str
    state: ExportRunState
    parameters: dict[str, str]
    created_at: float
    updated_at: float
    next_attempt_at: float
    attempts: int
    trouble_since: float | None
    starting_at: float | None
    report_id: int | None
    canvas_state: str | None
    file_name: str | None
    size: int | None
    sha256: str | None
    published_at: float | None
    reason: str | None

    @classmethod
    def from_row(cls, row: Row) -> ExportRun:
        """Build from a ``SELECT * FROM export_runs`` row."""
        fields = {key: row[key] for key in row.keys()}  # noqa: SIM118 (a Row, not a dict)
        fields["state"] = ExportRunState(fields["state"])
        fields["parameters"] = json.loads(fields["parameters"])
        return cls(**fields)


def _json_or_none(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None
