"""The per-batch archive: what was received, what was sent, what Canvas answered, the report.

``archive/<institution>/batch-NNNNNN/`` holds, once a batch has ended:
``received/NN-<name>`` (the uploads, as received), ``sent-to-canvas.zip`` (the exact bytes
posted), ``canvas-import.json`` (Canvas's last answer), ``canvas-errors.csv`` (when Canvas
made one), ``history.json`` (every state change) and the report files.  Payloads are hard
links to the spool (no copy, same bytes); writing is idempotent, so a crash mid-way is
repaired by writing again.  :mod:`gateway.state.retention` purges it after its time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from gateway.state.records import BatchRecord, UploadRecord
from gateway.state.spool import Spool, publish_bytes, temp_path_for


def archive_folder(spool: Spool, batch: BatchRecord) -> Path:
    """Where a batch's archive lives."""
    return spool.root / "archive" / batch.institution / f"batch-{batch.id:06d}"


def archive_batch(spool: Spool, batch: BatchRecord, uploads: list[UploadRecord],
                  history: list[dict[str, object]], report_files: Mapping[str, bytes]) -> Path:
    """Write (or complete) the archive of an ended batch; returns its folder."""
    folder = archive_folder(spool, batch)
    received = folder / "received"
    received.mkdir(parents=True, exist_ok=True)
    for position, upload in enumerate(uploads, start=1):
        _link(spool.upload_path(upload.id), received / f"{position:02d}-{upload.filename}")
    _link(spool.batch_zip_path(batch.id), folder / "sent-to-canvas.zip")
    _link(spool.batch_errors_path(batch.id), folder / "canvas-errors.csv")
    if batch.canvas_json is not None:
        publish_bytes(folder / "canvas-import.json",
                      json.dumps(batch.canvas_json, indent=2, sort_keys=True).encode())
    publish_bytes(folder / "history.json", json.dumps(history, indent=2).encode())
    for name, content in report_files.items():
        publish_bytes(folder / name, content)
    return folder


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` as ``target`` (replacing it); nothing when the source is gone."""
    if not source.exists():
        return
    temp = temp_path_for(target)
    try:
        os.link(source, temp)
        os.replace(temp, target)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
