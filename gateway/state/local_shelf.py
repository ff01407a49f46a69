"""The shelf on one machine (the default): plain files in the institutions' SFTP homes.

``sftp/<institution>/reports/<name>`` and ``sftp/<institution>/outbox/<export>/<name>`` on
the data volume, exactly where gateways before the shelf put them.  A file appears by
rename from a dot-named temp file in the same folder after an fsync, and the folder is
fsynced too (:func:`gateway.state.spool.publish_stream`), so a vendor never sees part of a
file; dot names are never listed.  Exports are published read-only (mode 0444).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

from gateway.state.shelf import OUTBOX, REPORTS, ShelfEntry
from gateway.state.spool import Spool, file_chunks, publish_bytes, publish_stream

_FIXED = (REPORTS, OUTBOX)
READ_LIMIT = 1 << 20
"""The most one read returns (SFTP clients ask for 32 to 256 KiB)."""


class LocalShelf:
    """Files under ``spool.home(institution)`` (see the module docstring)."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def folder(self, institution: str, folder: str) -> Path:
        """The local folder of a shelf folder."""
        return self._spool.home(institution) / folder

    def publish_bytes(self, institution: str, folder: str, name: str, data: bytes) -> None:
        """Temp file, fsync, rename, fsync the folder (made if missing)."""
        publish_bytes(self.folder(institution, folder) / name, data)

    def publish_file(self, institution: str, folder: str, name: str, source: Path) -> None:
        """A copy of ``source``, a chunk at a time, published like bytes; mode 0444."""
        final = self.folder(institution, folder) / name
        publish_stream(final, file_chunks(source))
        os.chmod(final, 0o444)

    def files(self, institution: str, folder: str) -> list[ShelfEntry]:
        """The folder's plain files, never a temp (dot) name or a link."""
        return self._entries(institution, folder, folders=False)

    def folders(self, institution: str, folder: str) -> list[ShelfEntry]:
        """The folder's real subfolders (never a link)."""
        return self._entries(institution, folder, folders=True)

    def _entries(self, institution: str, folder: str, *, folders: bool) -> list[ShelfEntry]:
        path = self.folder(institution, folder)
        try:
            with os.scandir(path) as scan:
                kept = [entry for entry in scan if not entry.name.startswith(".")
                        and (entry.is_dir(follow_symlinks=False) if folders
                             else entry.is_file(follow_symlinks=False))]
        except FileNotFoundError:
            if folder in _FIXED:  # always there, even before the first file
                return []
            raise
        found = []
        for entry in kept:
            try:
                found.append((entry.name, entry.stat(follow_symlinks=False)))
            except FileNotFoundError:  # removed meanwhile (retention, a prune): not listed
                continue
        return sorted(ShelfEntry(name, 0 if folders else found_stat.st_size,
                                 found_stat.st_mtime) for name, found_stat in found)

    def make_folder(self, institution: str, folder: str) -> None:
        """``mkdir -p``."""
        self.folder(institution, folder).mkdir(parents=True, exist_ok=True)

    def stat(self, institution: str, folder: str, name: str) -> ShelfEntry | None:
        """The plain file's size and time (None for a missing file, a folder or a link)."""
        try:
            found = (self.folder(institution, folder) / name).lstat()
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        return ShelfEntry(name, found.st_size, found.st_mtime)

    def open(self, institution: str, folder: str, name: str) -> LocalReader:
        """The file, opened without following a link."""
        return LocalReader(self.folder(institution, folder) / name, name)

    def remove(self, institution: str, folder: str, name: str) -> bool:
        """Unlink the file."""
        try:
            (self.folder(institution, folder) / name).unlink()
        except FileNotFoundError:
            return False
        return True

    def prune(self, institution: str, folder: str, *, older_than: float) -> list[str]:
        """Unlink the files older than ``older_than``; temp files are left to their writer."""
        try:
            entries = self.files(institution, folder)
        except FileNotFoundError:
            return []
        removed = []
        for entry in entries:
            if entry.modified_at < older_than and self.remove(institution, folder,
                                                              entry.name):
                removed.append(entry.name)
        return removed

    def locate(self, institution: str, folder: str, name: str) -> str:
        """The file's path."""
        return str(self.folder(institution, folder) / name)


class LocalReader:
    """A published file open for reading by offset (``pread``: no shared position, so
    reads from several threads need no lock)."""

    def __init__(self, path: Path, name: str) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        self._lock = threading.Lock()
        try:
            found = os.fstat(self._fd)
        except BaseException:
            os.close(self._fd)
            raise
        self._entry = ShelfEntry(name, found.st_size, found.st_mtime)

    @property
    def entry(self) -> ShelfEntry:
        """The file when it was opened."""
        return self._entry

    def read(self, offset: int, size: int) -> bytes:
        """``pread`` of at most READ_LIMIT bytes (a short read, which SFTP allows, so a
        client asking for gigabytes at once gets a bounded buffer); a replaced file is still
        read whole (the rename leaves this one)."""
        return os.pread(self._fd, min(size, READ_LIMIT), offset)

    def close(self) -> None:
        """Close the descriptor once."""
        with self._lock:
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = -1
