"""The institution's ``/outbox``: where finished exports are published, read-only to it.

Layout: ``<home>/outbox/<export>/<YYYYmmdd-HHMMSS>Z-<report>.csv`` (or ``.zip`` when Canvas
made a zip: a provisioning or SIS export of several CSVs).  A file appears by rename from a
dot-named temp file in the same folder (the SFTP view hides dot names), after an fsync, so a
vendor never sees a partial file; publishing the same run again (after a crash) replaces the
file with identical bytes, and two runs done in the same second get two names.  Old files go
after the export's retention.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

from gateway.state.spool import file_chunks, publish_stream

OUTBOX = "outbox"


def outbox_name(report: str, at: float, attachment_name: str,
                taken: Collection[str] = ()) -> str:
    """The published name of a run's file: its time (UTC) and report, with the attachment's
    kind (``.zip`` or ``.csv``); ``-2``, ``-3`` ... after the report when an earlier run of
    the export (one done in the same second) has the name in ``taken``: a file is never
    replaced by another run's."""
    suffix = ".zip" if attachment_name.lower().endswith(".zip") else ".csv"
    stamp = datetime.fromtimestamp(at, tz=UTC).strftime("%Y%m%d-%H%M%SZ")
    name, count = f"{stamp}-{report}{suffix}", 1
    while name in taken:
        count += 1
        name = f"{stamp}-{report}-{count}{suffix}"
    return name


def outbox_folder(home: Path, export: str) -> Path:
    """An export's folder in the institution's home."""
    return home / OUTBOX / export


def publish(home: Path, export: str, name: str, source: Path) -> Path:
    """Publish a copy of the file ``source`` as ``/outbox/<export>/<name>`` (temp, fsync,
    rename, fsync folder), copied a chunk at a time; ``source`` is left in place."""
    folder = outbox_folder(home, export)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    publish_stream(final, file_chunks(source))
    os.chmod(final, 0o444)
    return final


def prune(home: Path, export: str, *, older_than: float) -> list[str]:
    """Remove the export's published files last changed before ``older_than`` (a Unix
    time); returns their names.  Temp files (dot names) are left to their writer."""
    folder = outbox_folder(home, export)
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        if entry.stat(follow_symlinks=False).st_mtime < older_than:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed
