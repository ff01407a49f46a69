"""The quarantine: files set aside with a written reason, never deleted automatically.

Whatever sets a file aside (start-up recovery, intake) puts it in ``spool/quarantine`` as
``<name>`` with ``<name>.reason.txt`` beside it.  An operator lists them, looks at one, and
may *requeue* it: the file becomes a new RECEIVED upload of a named institution, recorded and
moved into the spool in one transaction (as intake does on a clean close), so the sorter
takes it from there.  A crash mid-way leaves the file either in quarantine or received,
never lost: if the record did not commit, recovery quarantines the moved file again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.state.protocols import StateStore
from gateway.state.spool import Spool, fsync_directory

REASON_SUFFIX = ".reason.txt"
_ZIP_MAGIC = b"PK\x03\x04"
_PREVIEW_BYTES = 2048


class QuarantineError(Exception):
    """The request cannot be done; the message says why."""


@dataclass(frozen=True)
class QuarantinedFile:
    """One file in quarantine and the reason it is there."""

    name: str
    size: int
    quarantined_at: float
    reason: str
    path: Path


def quarantined(spool: Spool) -> list[QuarantinedFile]:
    """Every quarantined file, oldest first (temp and reason files are not listed)."""
    if not spool.quarantine.exists():
        return []
    files = [_describe(path) for path in spool.quarantine.iterdir()
             if path.is_file() and not path.name.startswith(".")
             and not path.name.endswith(REASON_SUFFIX)]
    return sorted(files, key=lambda item: (item.quarantined_at, item.name))


def quarantined_file(spool: Spool, name: str) -> QuarantinedFile:
    """One quarantined file by name; raises QuarantineError if there is none."""
    if "/" in name or name.startswith(".") or name.endswith(REASON_SUFFIX):
        raise QuarantineError(f"{name!r} is not a quarantined file name "
                              "(see `gateway quarantine list`)")
    path = spool.quarantine / name
    if not path.is_file():
        raise QuarantineError(f"there is no quarantined file {name!r}")
    return _describe(path)


def preview(item: QuarantinedFile) -> tuple[str, list[str]]:
    """The file's SHA-256 and its first lines (text), or a one-line note for binary data."""
    with open(item.path, "rb") as handle:
        head = handle.read(_PREVIEW_BYTES)
    if head.startswith(_ZIP_MAGIC):
        lines = ["(a zip archive)"]
    elif b"\x00" in head:
        lines = ["(binary data)"]
    else:
        lines = head.decode("utf-8", "replace").splitlines()[:5]
    return _sha256(item.path), lines


def requeue(store: StateStore, spool: Spool, item: QuarantinedFile, *, institution: str,
            configured: Sequence[str], filename: str | None = None) -> int:
    """Receive a quarantined file again as an upload of ``institution``; returns its id.

    ``filename`` is the name the sorter sees (it decides .csv or .zip handling); by default
    the quarantined name, with ``.zip`` or ``.csv`` added by content when it has neither.
    Raises QuarantineError for an unknown institution or an unusable file name.
    """
    if institution not in configured:
        raise QuarantineError(f"there is no institution {institution!r} "
                              f"(configured: {', '.join(configured) or 'none'})")
    name = filename or _upload_name(item)
    if "/" in name or name.startswith(".") or not name.strip() or len(name) > 255:
        raise QuarantineError(f"{name!r} cannot be an upload's file name")
    sha256 = _sha256(item.path)
    with store.transaction() as txn:
        upload_id = txn.record_upload(institution, name, item.size, sha256)
        # Moved inside the transaction: if the commit fails, the file is an orphan in the
        # spool and start-up recovery sets it aside again, with a reason.
        os.replace(item.path, spool.upload_path(upload_id))
        fsync_directory(spool.uploads)
        fsync_directory(spool.quarantine)
    (spool.quarantine / (item.name + REASON_SUFFIX)).unlink(missing_ok=True)
    return upload_id


def _describe(path: Path) -> QuarantinedFile:
    reason_path = path.with_name(path.name + REASON_SUFFIX)
    try:
        reason = reason_path.read_text(encoding="utf-8", errors="replace").strip()
        # The reason is written when the file is set aside; the file keeps its old mtime.
        quarantined_at = reason_path.stat().st_mtime
    except FileNotFoundError:
        reason = "(no reason file)"
        quarantined_at = path.stat().st_mtime
    return QuarantinedFile(name=path.name, size=path.stat().st_size,
                           quarantined_at=quarantined_at, reason=reason, path=path)


def _upload_name(item: QuarantinedFile) -> str:
    if item.name.lower().endswith((".csv", ".zip")):
        return item.name
    with open(item.path, "rb") as handle:
        is_zip = handle.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
    return f"{item.name}{'.zip' if is_zip else '.csv'}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
