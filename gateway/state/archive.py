"""The per-batch archive: what was received, what was sent, what Canvas answered, the report.

``archive/<institution>/batch-NNNNNN/`` holds, once a batch has ended:
``received/NN-<name>`` (the uploads, as received), ``received.json`` (each upload's own name,
id, size and SHA-256, and the file it is archived as), ``sent-to-canvas.zip`` (the exact bytes
posted), ``canvas-import.json`` (Canvas's last answer), ``canvas-errors.csv`` (when Canvas
made one), ``history.json`` (every state change) and the report files.  An upload whose name
would make ``NN-<name>`` longer than ARCHIVED_NAME_MAX bytes is archived under the start of
its name and a hash of all of it (SFTP takes names of up to 255 bytes, as many as the disk
does); ``received.json`` keeps the whole name.  Payloads are hard links to the spool (no copy,
same bytes; S3: server-side copies); writing is idempotent, so a crash mid-way is repaired
by writing again.  The archive is kept by the custody (its ``archive`` area).
:mod:`gateway.state.retention` purges it after its time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping

from gateway.state.custody import Custody, CustodyError, PayloadKey, upload_key
from gateway.state.records import BatchRecord, UploadRecord
from gateway.state.spool import shortened

ARCHIVED_NAME_MAX = 200
"""The longest archived file name, in bytes: under NAME_MAX with room to spare for the
suffixes that copying and backup tools add to a name (temp names, ``~`` backups)."""
_KEPT_SUFFIX_MAX = 16
"""A long name keeps its extension (``.csv``) in the archive if it is at most this long."""


def archive_batch(custody: Custody, batch: BatchRecord, uploads: list[UploadRecord],
                  history: list[dict[str, object]], report_files: Mapping[str, bytes]) -> None:
    """Write (or complete) the archive of an ended batch."""
    def key(name: str) -> PayloadKey:
        return PayloadKey.archived(batch.institution, batch.id, name)

    def write(name: str, content: bytes) -> None:
        custody.put(key(name), content, replace=True)

    manifest = []
    for position, upload in enumerate(uploads, start=1):
        stored = archived_name(position, upload.filename)
        _copy(custody, upload_key(upload), key(f"received/{stored}"))
        manifest.append({"position": position, "upload_id": upload.id,
                         "name": upload.filename, "archived_as": f"received/{stored}",
                         "size": upload.size, "sha256": upload.sha256})
    write("received.json", json.dumps(manifest, indent=2).encode())
    _copy(custody, PayloadKey.batch_zip(batch.id), key("sent-to-canvas.zip"))
    _copy(custody, PayloadKey.batch_errors(batch.id), key("canvas-errors.csv"))
    if batch.canvas_json is not None:
        write("canvas-import.json",
              json.dumps(batch.canvas_json, indent=2, sort_keys=True).encode())
    write("history.json", json.dumps(history, indent=2).encode())
    for name, content in report_files.items():
        write(name, content)


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


def _copy(custody: Custody, source: PayloadKey, target: PayloadKey) -> None:
    """Copy ``source`` as ``target`` (replacing it); nothing when the source is gone (a
    batch without an errors CSV, or one whose zip was never built)."""
    if custody.size(source) is None:
        return
    try:
        custody.copy(source, target)
    except CustodyError:
        if custody.size(source) is not None:
            raise  # gone meanwhile (retention) is fine; any other failure is not
