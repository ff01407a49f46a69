"""The shelf: what the gateway publishes for an institution to read over SFTP.

Two folders of an institution's home are the gateway's to write and the vendor's to read:
``reports`` (batch reports and ``status.json``) and ``outbox/<export>`` (finished exports).
Callers name a file by institution, folder and name and let a :class:`Shelf` do the I/O, so
they never learn where the files are:

- :class:`gateway.state.local_shelf.LocalShelf` (one machine, the default): plain files in
  the SFTP home on the data volume, published by fsync + rename from dot-named temp files;
- :class:`gateway.state.s3_shelf.S3Shelf` (cluster mode): objects in the custody's bucket,
  ``<prefix>/homes/<institution>/<folder>/<name>``, so a vendor connected to any node reads
  what the institution's lease holder published.

Contracts every implementation keeps:

- A reader sees no file or all of it: publication is a rename, or one PUT.
- Publishing a name that exists replaces it (``status.json`` is rewritten; a report or an
  export published again after a crash has the same bytes).  Callers choose names that never
  replace another run's file (``exports.outbox.outbox_name``).
- ``reports`` and ``outbox`` always exist; an export folder exists once it is made or
  published to.  A file or export folder that is not there raises FileNotFoundError (and
  ``stat`` returns None); any other failure is an OSError or a
  :class:`gateway.state.custody.CustodyError` naming where, never a credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

REPORTS = "reports"
"""The folder of batch reports and ``status.json``."""
OUTBOX = "outbox"
"""The folder of the export folders."""


def export_folder(export: str) -> str:
    """The shelf folder of one export: ``outbox/<export>``."""
    return f"{OUTBOX}/{export}"


class FileChangedError(FileNotFoundError):
    """The file a reader opened was replaced or removed before it was read to the end: the
    version opened is gone (never a mix of two versions); the message says to read again."""


@dataclass(frozen=True, order=True)
class ShelfEntry:
    """A file or folder on the shelf: its name, size in bytes (0 for a folder) and when it
    was last written (epoch seconds; 0 when the store keeps no time for a folder)."""

    name: str
    size: int
    modified_at: float


class ShelfReader(Protocol):
    """An open file of the shelf, read at any offset (SFTP reads come out of order and
    several at once: implementations are safe to call from several threads).  Blocking:
    call it off the event loop."""

    @property
    def entry(self) -> ShelfEntry:
        """The file as it was when opened."""
        ...

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (fewer only at the end; empty past it).
        Raises OSError when the file changed or went away since it was opened."""
        ...

    def close(self) -> None:
        """Let go of the file (and any buffer); idempotent."""
        ...


class Shelf(Protocol):
    """What institutions read; see the module docstring.  Every method blocks (disk or
    network): the SFTP server calls them in a thread."""

    def publish_bytes(self, institution: str, folder: str, name: str, data: bytes) -> None:
        """Durably publish ``data`` as ``<folder>/<name>``, replacing what is there."""
        ...

    def publish_file(self, institution: str, folder: str, name: str, source: Path) -> None:
        """Durably publish a copy of the written file ``source``, replacing what is there
        (read-only to the vendor); ``source`` is left in place for the caller."""
        ...

    def files(self, institution: str, folder: str) -> list[ShelfEntry]:
        """The published files of a folder, in name order (temp files never listed)."""
        ...

    def folders(self, institution: str, folder: str) -> list[ShelfEntry]:
        """The folders inside ``folder`` (``outbox``'s export folders), in name order."""
        ...

    def make_folder(self, institution: str, folder: str) -> None:
        """Make an export folder exist before its first file (idempotent)."""
        ...

    def stat(self, institution: str, folder: str, name: str) -> ShelfEntry | None:
        """A published file, or None when there is none."""
        ...

    def open(self, institution: str, folder: str, name: str) -> ShelfReader:
        """Open a published file for reading; FileNotFoundError when there is none."""
        ...

    def remove(self, institution: str, folder: str, name: str) -> bool:
        """Remove a published file; True if there was one."""
        ...

    def prune(self, institution: str, folder: str, *, older_than: float) -> list[str]:
        """Remove the folder's files last written before ``older_than`` (a Unix time);
        returns their names."""
        ...

    def locate(self, institution: str, folder: str, name: str) -> str:
        """Where an operator finds the file: a path, or an ``s3://bucket/key`` URL."""
        ...


def read_whole(shelf: Shelf, institution: str, folder: str, name: str) -> bytes | None:
    """All the bytes of a small published file (a report), or None when there is none."""
    try:
        reader = shelf.open(institution, folder, name)
    except FileNotFoundError:
        return None
    try:
        pieces, offset = [], 0
        while offset < reader.entry.size:  # reads are bounded: short reads until the end
            piece = reader.read(offset, reader.entry.size - offset)
            if not piece:
                break
            pieces.append(piece)
            offset += len(piece)
        return b"".join(pieces)
    finally:
        reader.close()
