"""Pure batching rules: when an institution's uploads are complete, and how they group.

A batch is one Canvas import.  CSVs that arrive together (no new upload for the quiet period)
go into one zip; a zip upload already is a complete import, so it forms a batch of its own,
and arrival order is kept across the groups.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

from gateway.sorting.sniff import ZIP_KIND, Sniffed
from gateway.state.records import UploadRecord

_ZIP_STAMP = (1980, 1, 1, 0, 0, 0)


def is_quiet(pending: Sequence[UploadRecord], now: float, quiet_seconds: float) -> bool:
    """True when uploads are waiting and none arrived in the last ``quiet_seconds``."""
    return bool(pending) and now - max(u.received_at for u in pending) >= quiet_seconds


def group_uploads(pending: Sequence[UploadRecord],
                  sniffed: dict[int, Sniffed]) -> list[list[UploadRecord]]:
    """Split uploads (arrival order) into batches: each zip alone, CSVs between them together.

    Rejected files stay with the group they arrived in, so their report reaches the sender
    together with the rest of that delivery.
    """
    groups: list[list[UploadRecord]] = []
    current: list[UploadRecord] = []
    for upload in pending:
        if sniffed[upload.id].kind == ZIP_KIND:
            if current:
                groups.append(current)
            groups.append([upload])
            current = []
        else:
            current.append(upload)
    if current:
        groups.append(current)
    return groups


def member_names(filenames: Sequence[str]) -> list[str]:
    """Zip member names for the files: their own names, with ``-2``, ``-3`` added to repeats."""
    used: set[str] = set()
    names = []
    for filename in filenames:
        stem, dot, ext = filename.rpartition(".")
        if not dot:
            stem, ext = filename, ""
        candidate, counter = filename, 1
        while candidate.lower() in used:
            counter += 1
            candidate = f"{stem}-{counter}{dot}{ext}"
        used.add(candidate.lower())
        names.append(candidate)
    return names


def write_batch_zip(members: Sequence[tuple[str, Path]], destination: Path) -> None:
    """Write the zip Canvas receives: ``members`` (name, source file) in the order given.

    The output is a pure function of the inputs (fixed timestamps), so rebuilding a batch
    after a crash produces the same bytes.
    """
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, source in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with open(source, "rb") as reader, archive.open(info, "w") as writer:
                while chunk := reader.read(1 << 20):
                    writer.write(chunk)
