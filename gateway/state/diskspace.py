"""Free space on the data volume, and the floor below which the gateway takes no new work.

The floor (``[storage] min_free_mb``) protects work already accepted: an upload that is
acknowledged must still be able to become a batch zip, a report and an archive.  Below it,
/readyz fails and intake refuses new uploads with a clear message; nothing already received
is affected.  Reading the free space is one ``statvfs`` call, cheap enough for every upload.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

_MB = 1024 * 1024


@dataclass(frozen=True)
class DiskSpace:
    """What ``statvfs`` said about the volume holding ``path``, and the floor in force."""

    path: Path
    free_bytes: int
    total_bytes: int
    floor_bytes: int

    @property
    def above_floor(self) -> bool:
        """True while new work may be accepted (a floor of 0 never refuses)."""
        return self.free_bytes >= self.floor_bytes

    def describe(self) -> str:
        """One line for people: ``"812 MB free on /data (floor 512 MB)"``."""
        return (f"{self.free_bytes // _MB} MB free on {self.path} "
                f"(floor {self.floor_bytes // _MB} MB)")


def disk_space(path: Path, floor_bytes: int) -> DiskSpace:
    """Measure the volume holding ``path``.  Raises OSError if ``path`` does not exist."""
    usage = shutil.disk_usage(path)
    return DiskSpace(path=path, free_bytes=usage.free, total_bytes=usage.total,
                     floor_bytes=floor_bytes)
