"""The quarantine: files set aside with a written reason, never deleted automatically.

Whatever sets a file aside (start-up recovery, intake) puts it in the custody's quarantine
as ``<name>`` with ``<name>.reason.txt`` beside it.  An operator lists them, looks at one, and
may *requeue* it: the file becomes a new RECEIVED upload of a named institution, and the
sorter takes it from there.  As intake does, the payload is moved first and the record
committed after: a crash in between leaves a payload no record names, which start-up
recovery sets aside again, with a reason; never lost.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.state.custody import (
    REASON_SUFFIX,
    Area,
    Custody,
    CustodyError,
    PayloadKey,
)
from gateway.state.protocols import StateStore

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
    key: PayloadKey


def quarantined(custody: Custody) -> list[QuarantinedFile]:
    """Every quarantined file, oldest first (reason files are not listed)."""
    files = [_describe(custody, key) for key in custody.keys(Area.QUARANTINE)
             if not key.name.endswith(REASON_SUFFIX)]
    found = [item for item in files if item is not None]
    return sorted(found, key=lambda item: (item.quarantined_at, item.name))


def quarantined_file(custody: Custody, name: str) -> QuarantinedFile:
    """One quarantined file by name; raises QuarantineError if there is none."""
    if "/" in name or name.startswith(".") or name.endswith(REASON_SUFFIX) or not name:
        raise QuarantineError(f"{name!r} is not a quarantined file name "
                              "(see `gateway quarantine list`)")
    item = _describe(custody, PayloadKey.quarantined(name))
    if item is None:
        raise QuarantineError(f"there is no quarantined file {name!r}")
    return item


def preview(custody: Custody, item: QuarantinedFile) -> tuple[str, list[str]]:
    """The file's SHA-256 and its first lines (text), or a one-line note for binary data."""
    with custody.open(item.key) as reader:
        head = reader.read(_PREVIEW_BYTES)
    if head.startswith(_ZIP_MAGIC):
        lines = ["(a zip archive)"]
    elif b"\x00" in head:
        lines = ["(binary data)"]
    else:
        lines = head.decode("utf-8", "replace").splitlines()[:5]
    return _sha256(custody, item.key), lines


def requeue(store: StateStore, custody: Custody, item: QuarantinedFile, *, institution: str,
            configured: Sequence[str], filename: str | None = None) -> int:
    """Receive a quarantined file again as an upload of ``institution``; returns its id.

    ``filename`` is the name the sorter sees (it decides .csv or .zip handling); by default
    the quarantined name, with ``.zip`` or ``.csv`` added by content when it has neither.
    Raises QuarantineError for an unknown institution or an unusable file name.
    """
    if institution not in configured:
        raise QuarantineError(f"there is no institution {institution!r} "
                              f"(configured: {', '.join(configured) or 'none'})")
    name = filename or _upload_name(custody, item)
    if "/" in name or name.startswith(".") or not name.strip() or len(name) > 255:
        raise QuarantineError(f"{name!r} cannot be an upload's file name")
    sha256 = _sha256(custody, item.key)
    payload = PayloadKey.received(secrets.token_hex(12))
    # Moved before the record, as intake puts before it: if the commit fails, the payload
    # has no record and start-up recovery sets it aside again, with a reason.
    custody.move(item.key, payload)
    with store.transaction() as txn:
        upload_id = txn.record_upload(institution, name, item.size, sha256,
                                      payload=payload.name)
    custody.delete(PayloadKey.quarantined(item.name + REASON_SUFFIX))
    return upload_id


def _describe(custody: Custody, key: PayloadKey) -> QuarantinedFile | None:
    found = custody.stat(key)
    if found is None:
        return None
    reason_key = PayloadKey.quarantined(key.name + REASON_SUFFIX)
    written = custody.stat(reason_key)
    if written is None:
        return QuarantinedFile(name=key.name, size=found.size,
                               quarantined_at=found.modified_at, reason="(no reason file)",
                               key=key)
    try:
        with custody.open(reason_key) as reader:
            reason = reader.read().decode("utf-8", "replace").strip()
    except CustodyError:
        reason = "(no reason file)"
    # The reason is written when the file is set aside; the file keeps its old time.
    return QuarantinedFile(name=key.name, size=found.size, quarantined_at=written.modified_at,
                           reason=reason, key=key)


def _upload_name(custody: Custody, item: QuarantinedFile) -> str:
    if item.name.lower().endswith((".csv", ".zip")):
        return item.name
    with custody.open(item.key) as reader:
        is_zip = reader.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
    return f"{item.name}{'.zip' if is_zip else '.csv'}"


def _sha256(custody: Custody, key: PayloadKey) -> str:
    digest = hashlib.sha256()
    for chunk in custody.stream(key):
        digest.update(chunk)
    return digest.hexdigest()
