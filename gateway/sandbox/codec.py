"""Import records to JSON documents and back, for the journal (journal.py).

A document holds everything but file bytes: those live in the journal's blobs under their
attachment id (the upload under `attachment_id`, every other file under its own id), so a
document is small and is rewritten freely while bytes are written once.  Times keep their
microseconds so ordering (newest first) survives a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from gateway.sandbox.errorfile import SisError
from gateway.sandbox.files import StoredFile
from gateway.sandbox.records import (
    BatchData,
    End,
    ImportOptions,
    Outcome,
    SisImportRecord,
    UploadedFile,
    WorkflowState,
)

_TUPLE_DATA_FIELDS = ("downloadable_attachment_ids", "supplied_batches", "completed_importers")


def record_to_doc(record: SisImportRecord) -> dict[str, Any]:
    """The record as JSON-ready data, without file bytes."""
    return {
        "id": record.id,
        "account_id": record.account_id,
        "user_id": record.user_id,
        "attachment_id": record.attachment_id,
        "created_at": _time(record.created_at),
        "updated_at": _time(record.updated_at),
        "workflow_state": str(record.workflow_state),
        "options": asdict(record.options),
        "upload": {
            "filename": record.upload.filename,
            "content_type": record.upload.content_type,
        },
        "started_at": _time(record.started_at),
        "ended_at": _time(record.ended_at),
        "progress": record.progress,
        "data": asdict(record.data),
        "files": [_file_doc(file) for file in record.files],
        "outcome": _outcome_doc(record.outcome) if record.outcome is not None else None,
        "errors_due_at": _time(record.errors_due_at),
        "errors_file": _file_doc(record.errors_file) if record.errors_file is not None else None,
    }


def record_from_doc(doc: Mapping[str, Any], blobs: Mapping[int, bytes]) -> SisImportRecord:
    """The record a `record_to_doc` document describes.  Raises KeyError for a missing
    field or blob, ValueError for a bad value."""
    upload = doc["upload"]
    errors_file = doc["errors_file"]
    return SisImportRecord(
        id=doc["id"],
        account_id=doc["account_id"],
        user_id=doc["user_id"],
        attachment_id=doc["attachment_id"],
        created_at=_required_time(doc["created_at"]),
        updated_at=_required_time(doc["updated_at"]),
        workflow_state=WorkflowState(doc["workflow_state"]),
        options=ImportOptions(**doc["options"]),
        upload=UploadedFile(
            upload["filename"], upload["content_type"], blobs[doc["attachment_id"]]
        ),
        started_at=_parse_time(doc["started_at"]),
        ended_at=_parse_time(doc["ended_at"]),
        progress=doc["progress"],
        data=_data_from_doc(doc["data"]),
        files=tuple(_file_from_doc(file, blobs) for file in doc["files"]),
        outcome=_outcome_from_doc(doc["outcome"]) if doc["outcome"] is not None else None,
        errors_due_at=_parse_time(doc["errors_due_at"]),
        errors_file=_file_from_doc(errors_file, blobs) if errors_file is not None else None,
    )


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def _required_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _file_doc(file: StoredFile) -> dict[str, Any]:
    return {
        "id": file.id,
        "display_name": file.display_name,
        "filename": file.filename,
        "content_type": file.content_type,
        "uuid": file.uuid,
        "created_at": _time(file.created_at),
    }


def _file_from_doc(doc: Mapping[str, Any], blobs: Mapping[int, bytes]) -> StoredFile:
    return StoredFile(
        id=doc["id"],
        display_name=doc["display_name"],
        filename=doc["filename"],
        content_type=doc["content_type"],
        uuid=doc["uuid"],
        created_at=_required_time(doc["created_at"]),
        content=blobs[doc["id"]],
    )


def _data_from_doc(doc: Mapping[str, Any]) -> BatchData:
    values: dict[str, Any] = {f.name: doc.get(f.name) for f in fields(BatchData)}
    for name in _TUPLE_DATA_FIELDS:
        if values[name] is not None:
            values[name] = tuple(values[name])
    return BatchData(**values)


def _outcome_doc(outcome: Outcome) -> dict[str, Any]:
    return {
        "supplied_batches": list(outcome.supplied_batches),
        "completed_importers": list(outcome.completed_importers),
        "counts": dict(outcome.counts),
        "problems": [asdict(problem) for problem in outcome.problems],
        "running_immediately": outcome.running_immediately,
        "error_message": outcome.error_message,
        "end": str(outcome.end),
        "changes": dict(outcome.changes),
    }


def _outcome_from_doc(doc: Mapping[str, Any]) -> Outcome:
    return Outcome(
        supplied_batches=tuple(doc["supplied_batches"]),
        completed_importers=tuple(doc["completed_importers"]),
        counts=dict(doc["counts"]),
        problems=tuple(SisError(**problem) for problem in doc["problems"]),
        running_immediately=doc["running_immediately"],
        error_message=doc["error_message"],
        end=End(doc["end"]),
        changes=dict(doc["changes"]),
    )
