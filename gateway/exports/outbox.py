"""The names of the institution's ``/outbox`` files, where finished exports are published
(read-only to it) on the shelf (:mod:`gateway.state.shelf`: the SFTP home, or the bucket).

Layout: ``outbox/<export>/<YYYYmmdd-HHMMSS>Z-<report>.csv`` (or ``.zip`` when Canvas made a
zip: a provisioning or SIS export of several CSVs).  The shelf publishes a file whole, so a
vendor never sees a partial file; publishing the same run again (after a crash) replaces the
file with identical bytes, and two runs done in the same second get two names.  Old files go
after the export's retention (``Shelf.prune``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime


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
