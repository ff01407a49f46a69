"""The per-batch archive: what was received, what was sent, what Canvas answered, the report.

``archive/<institution>/batch-NNNNNN/`` holds, once a batch has ended:
``received/NN-<name>`` (the uploads, as received), ``received.json`` (each upload's own name,
id, size and SHA-256, and the file it is archived as), ``sent-to-canvas.zip`` (the exact bytes
posted), ``canvas-import.json`` (Canvas's last answer), ``canvas-errors.csv`` (when Canvas
made one), ``history.json`` (every state change) and the report files.  An upload whose name
would make ``NN-<name>`` longer than ARCHIVED_NAME_MAX bytes is archived under the start of
its name and a hash of all of it (SFTP takes names of up to 255 bytes, as many as the disk
does); ``received.json`` keeps the whole name.  Payloads are hard links to the spool (no copy,
same bytes); writing is idempotent, so a crash mid-way is repaired by writing again.
:mod:`gateway.state.retention` purges it after its time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from gateway.state.records import BatchRecord, UploadRecord
from gateway.state.spool import Spool, publish_bytes, shortened, temp_path_for

ARCHIVED_NAME_MAX = 200
"""The longest archived file name, in bytes: under NAME_MAX with room to spare for the
suffixes that copying and backup tools add to a name (temp names, ``~`` backups)."""
_KEPT_SUFFIX_MAX = 16
"""A long name keeps its extension (``.csv``) in the archive if it is at most this long."""


def archive_folder(spool: Spool, batch: BatchRecord) -> Path:
    """Where a batch's archive lives."""
    return spool.root / "archive" / batch.institution / f"batch-{batch.id:06d}"


def archive_batch(spool: Spool, batch: BatchRecord, uploads: list[UploadRecord],
                  history: list[dict[str, object]], report_files: Mapping[str, bytes]) -> Path:
    """Write (or complete) the archive of an ended batch; returns its folder."""
    folder = archive_folder(spool, batch)
    received = folder / "received"
    received.mkdir(parents=True, exist_ok=True)
    manifest = []
    for position, upload in enumerate(uploads, start=1):
        stored = archived_name(position, upload.filename)
        _link(spool.upload_path(upload.id), received / stored)
        manifest.append({"position": position, "upload_id": upload.id,
                         "name": upload.filename, "archived_as": f"received/{stored}",
                         "size": upload.size, "sha256": upload.sha256})
    publish_bytes(folder / "received.json", json.dumps(manifest, indent=2).encode())
    _link(spool.batch_zip_path(batch.id), folder / "sent-to-canvas.zip")
    _link(spool.batch_errors_path(batch.id), folder / "canvas-errors.csv")
    if batch.canvas_json is not None:
        publish_bytes(folder / "canvas-import.json",
                      json.dumps(batch.canvas_json, indent=2, sort_keys=True).encode())
    publish_bytes(folder / "history.json", json.dumps(history, indent=2).encode())
    for name, content in report_files.items():
        publish_bytes(folder / name, content)
    return folder


def archived_name(position: int, filename: str) -> str:
    """The name the ``position``-th upload (from 1) named ``filename`` is archived under:
    ``NN-<filename>`` when that takes at most ARCHIVED_NAME_MAX bytes, else ``NN-<start of
    filename>~<hash of all of it><extension>``.  The position keeps the names of one batch's
    uploads apart even when their own names are equal."""
    plain = f"{position:02d}-{filename}"
    if len(os.fsencode(plain)) <= ARCHIVED_NAME_MAX:
        return plain
    digest = hashlib.sha256(os.fsencode(filename)).hexdigest()[:16]
    suffix = os.path.splitext(filename)[1]
    if len(os.fsencode(suffix)) > _KEPT_SUFFIX_MAX:
        suffix = ""
    tail = f"~{digest}{suffix}"
    return shortened(plain, ARCHIVED_NAME_MAX - len(os.fsencode(tail))) + tail


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` as ``target`` (replacing it); nothing when the source is gone or
    ``target`` is already that link."""
    if not source.exists():
        return
    if target.exists() and os.path.samefile(source, target):
        # rename(2) onto another link of the same file does nothing and would leave the
        # temp link behind: archiving again (a retried report) must not add files.
        return
    temp = temp_path_for(target)
    try:
        os.link(source, temp)
        os.replace(temp, target)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
