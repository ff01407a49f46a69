"""What ``gateway show`` prints: everything the gateway knows about one batch or one upload.

Details are plain dicts (times as ISO 8601 UTC strings) so ``--json`` prints them as they
are and the status page shows the same facts; :func:`print_details` prints the human form.
Reads only, so it is safe against a running daemon's store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import RenderableType
from rich.table import Table

from gateway.ops.tables import emit, facts, table
from gateway.reporting.assemble import canvas_messages
from gateway.state.custodies import build_shelf
from gateway.state.custody import Custody, PayloadKey, upload_key
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord, UploadRecord
from gateway.state.report_names import ReportStage, latest_report, report_name
from gateway.state.shelf import REPORTS, Shelf
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES

_BATCH_TIMES = ("created_at", "submitted_at", "posted_at", "finished_at", "next_attempt_at")


def iso_time(stamp: float | None) -> str | None:
    """A store timestamp as ISO 8601 UTC to the second; None, and 0 (a time never set),
    are None, never ``1970-01-01``."""
    if not stamp:
        return None
    return datetime.fromtimestamp(stamp, tz=UTC).isoformat(timespec="seconds")


def batch_details(store: StateStore, spool: Spool, custody: Custody,
                  batch_id: int) -> dict[str, Any]:
    """Everything about a batch; raises KeyError when there is none."""
    batch = store.batch(batch_id)
    notices = store.notices(batch_id=batch_id)
    details: dict[str, Any] = {
        "batch": batch.id, "reference": batch.reference, "institution": batch.institution,
        "state": batch.state.value,
        "reason": batch.reason, "attempts": batch.attempts, "recoveries": batch.recoveries,
        "canvas_import": batch.import_id, "canvas_state": batch.canvas_state,
    }
    details.update({name: iso_time(getattr(batch, name)) for name in _BATCH_TIMES})
    if batch.state in FINISHED_BATCH_STATES:
        details["next_attempt_at"] = None  # nothing more will be attempted
    details.update(_attempt_evidence(batch))
    details.update(_canvas_messages(batch))
    details["uploads"] = [upload_summary(upload) for upload in store.uploads(batch_id=batch.id)]
    details["notices"] = [{"notice": n.id, "kind": n.kind, "state": n.state.value,
                           "attempts": n.attempts, "sent_at": iso_time(n.sent_at),
                           "last_error": n.last_error} for n in notices]
    details["history"] = _history(store, "batch", batch.id)
    details["files"] = {**_kept(custody, batch_payloads(batch)),
                        **batch_files(build_shelf(spool, custody), batch)}
    archived = custody.stat(PayloadKey.archived(batch.institution, batch.id, "history.json"))
    if archived is not None:
        history = custody.locate(PayloadKey.archived(batch.institution, batch.id, "history.json"))
        details["files"]["archive"] = history.rsplit("/", 1)[0]
    return details


def _attempt_evidence(batch: BatchRecord) -> dict[str, Any]:
    """How the current POST attempt is recognised in Canvas, and what the last reconcile
    saw there (every listed import and how it was read); duplicates first, never hidden."""
    facts: dict[str, Any] = {}
    reconcile = batch.reconcile or {}
    if reconcile.get("duplicates"):
        facts["duplicate_imports"] = ", ".join(str(i) for i in reconcile["duplicates"]) + \
            " (Canvas shows more than one import of this batch)"
    if batch.identity:
        facts["attempt_files"] = ", ".join(batch.identity.get("member_names", []))
        facts["canvas_user"] = batch.identity.get("api_user_id")
    if reconcile.get("verdict"):
        facts["reconciled_at"] = iso_time(reconcile.get("at"))
        facts["reconcile"] = f"{reconcile['verdict']}: {reconcile.get('why')}"
        facts["canvas_showed"] = [{"import": item.get("id"), "read_as": item.get("reading")}
                                  for item in reconcile.get("imports", [])]
    return facts


def _canvas_messages(batch: BatchRecord) -> dict[str, list[dict[str, str | None]]]:
    """Canvas's own processing errors and warnings of the import, file by file (as its
    ``processing_errors``/``processing_warnings`` pairs give them)."""
    canvas = batch.canvas_json or {}
    return {key: [{"file": m.file, "message": m.message} for m in canvas_messages(canvas.get(
                f"processing_{key.removeprefix('canvas_')}"))]
            for key in ("canvas_errors", "canvas_warnings")}


def batch_payloads(batch: BatchRecord) -> dict[str, PayloadKey]:
    """A batch's payloads (kept by the custody): the zip and Canvas's errors CSV."""
    return {"zip": PayloadKey.batch_zip(batch.id),
            "canvas_errors": PayloadKey.batch_errors(batch.id)}


def batch_files(shelf: Shelf, batch: BatchRecord) -> dict[str, str]:
    """Where a batch's published report files are (a path in the institution's SFTP home,
    or an ``s3://`` URL in cluster mode, which vendors read as ``/reports/<name>``): the
    latest report (the result once written, else the receipt), the receipt and the result;
    only those that exist."""
    names = {"report": batch_report(shelf, batch),
             "receipt": report_name(batch.reference, ReportStage.RECEIPT, ".txt"),
             "result": report_name(batch.reference, ReportStage.RESULT, ".txt")}
    return {what: shelf.locate(batch.institution, REPORTS, name)
            for what, name in names.items()
            if name is not None and shelf.stat(batch.institution, REPORTS, name) is not None}


def batch_report(shelf: Shelf, batch: BatchRecord) -> str | None:
    """The name in ``/reports`` of a batch's latest text report; None before the first."""
    return latest_report(lambda name: shelf.stat(batch.institution, REPORTS, name)
                         is not None, batch.reference)


def upload_details(store: StateStore, _spool: Spool, custody: Custody,
                   upload_id: int) -> dict[str, Any]:
    """Everything about an upload; raises KeyError when there is none (``_spool``: the
    same arguments as batch_details)."""
    upload = store.upload(upload_id)
    details = {"institution": upload.institution, **upload_summary(upload),
               "problem": upload.problem}
    details["history"] = _history(store, "upload", upload.id)
    details["files"] = _kept(custody, {"payload": upload_key(upload)})
    return details


def upload_summary(upload: UploadRecord) -> dict[str, Any]:
    """The one-line facts of an upload, as batch details list them."""
    return {"upload": upload.id, "filename": upload.filename, "size": upload.size,
            "sha256": upload.sha256, "state": upload.state.value, "kind": upload.kind,
            "rows": upload.rows, "batch": upload.batch_id,
            "received_at": iso_time(upload.received_at)}


def print_details(kind: str, details: dict[str, Any]) -> None:
    """Print batch or upload ``details`` (``kind``) for people: a title line, the scalar
    facts, then one table per list (uploads, Canvas's messages, notices, history)."""
    parts: list[RenderableType] = [
        f"{kind} {details[kind]} ({details['institution']}): {details['state']}",
        facts((key.replace("_", " "), value) for key, value in details.items()
              if key not in (kind, "institution", "state")
              and not isinstance(value, list | dict) and value is not None)]
    for key, value in details.items():
        if isinstance(value, list) and value:
            parts += [f"{key.replace('_', ' ')}:", _list_table(value)]
        elif isinstance(value, dict) and value:
            parts += [f"{key}:", facts((name.replace("_", " "), path)
                                       for name, path in value.items())]
    emit(*parts)


def _list_table(items: list[dict[str, Any]]) -> Table:
    if "to" in items[0]:  # the history
        return table(["AT", "CHANGE", "WHY"], [
            [i["at"], f"{i['from']} -> {i['to']}" if i["from"] else f"-> {i['to']}",
             i["reason"]] for i in items])
    headers = [key for key in items[0] if key != "sha256"]
    return table([h.upper().replace("_", " ") for h in headers],
                 [[item.get(h) for h in headers] for item in items])


def _history(store: StateStore, entity: str, record_id: int) -> list[dict[str, Any]]:
    return [{**entry, "at": iso_time(entry["at"])} for entry in store.history(entity, record_id)]


def _kept(custody: Custody, keys: dict[str, PayloadKey]) -> dict[str, str]:
    return {name: custody.locate(key) for name, key in keys.items()
            if custody.stat(key) is not None}

