"""The shelf of cluster mode: what institutions read, as objects in the custody's bucket.

``<prefix>/homes/<institution>/reports/<name>`` and
``<prefix>/homes/<institution>/outbox/<export>/<name>``, written through the
:class:`~gateway.state.s3_custody.S3Custody` (its PUTs, multipart uploads for big exports,
retries and error wording).  A PUT publishes a whole object at once, so a vendor reading
through any node sees no file or all of it; publishing replaces (``status.json`` is rewritten
at every change).  An export folder is an empty marker object ``.../outbox/<export>/`` until
its first file.  Reads are ranged GETs pinned to the version opened (ETag): a file replaced
while read fails the read instead of mixing two versions; each open file keeps at most one
read-ahead window in memory.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gateway.state.custody import Area, PayloadExistsError, PayloadKey, PayloadMissingError
from gateway.state.s3_custody import S3Custody
from gateway.state.shelf import OUTBOX, REPORTS, FileChangedError, ShelfEntry

READ_AHEAD = 1 << 20
"""Bytes fetched per GET when a client reads a file in small pieces (SFTP reads are 32-256
KiB): about one GET per megabyte, and the most an open file holds in memory."""
_FIXED = (REPORTS, OUTBOX)


class S3Shelf:
    """Objects under the custody's ``homes`` area (see the module docstring)."""

    def __init__(self, custody: S3Custody) -> None:
        self._custody = custody

    @staticmethod
    def key(institution: str, folder: str, name: str) -> PayloadKey:
        """The payload key of a shelf file."""
        return PayloadKey(Area.HOMES, f"{institution}/{folder}/{name}")

    def publish_bytes(self, institution: str, folder: str, name: str, data: bytes) -> None:
        """One PutObject, replacing."""
        self._custody.put(self.key(institution, folder, name), data, replace=True)

    def publish_file(self, institution: str, folder: str, name: str, source: Path) -> None:
        """A PutObject, or a multipart upload for a big file; ``source`` stays: the custody
        is handed a hard link to it (put removes what it is handed)."""
        key = self.key(institution, folder, name)
        if folder not in _FIXED:  # the folder stays when its last file is pruned
            self.make_folder(institution, folder)
        with self._custody.scratch(key) as link:
            os.link(source, link)
            self._custody.put(key, link, replace=True)

    def files(self, institution: str, folder: str) -> list[ShelfEntry]:
        """The objects directly in the folder; FileNotFoundError for an export folder
        with neither files nor a marker."""
        found, _ = self._children(institution, folder)
        return found

    def folders(self, institution: str, folder: str) -> list[ShelfEntry]:
        """The folders in ``folder`` (no time is kept for them: 0)."""
        _, names = self._children(institution, folder)
        return [ShelfEntry(name, 0, 0.0) for name in names]

    def _children(self, institution: str, folder: str) -> tuple[list[ShelfEntry], list[str]]:
        prefix = f"{institution}/{folder}/"
        files, folders = self._custody.children(Area.HOMES, prefix)
        if not files and not folders and folder not in _FIXED \
                and not self._marked(institution, folder):
            raise FileNotFoundError(f"no folder /{folder}")
        entries = [ShelfEntry(key.name[len(prefix):], stat.size, stat.modified_at)
                   for key, stat in files]
        return sorted(entries), sorted(folders)

    def _marked(self, institution: str, folder: str) -> bool:
        """Whether the folder's marker (an empty object named ``<folder>/``) is there."""
        parent, _, name = folder.rpartition("/")
        _, folders = self._custody.children(Area.HOMES, f"{institution}/{parent}/")
        return name in folders

    def make_folder(self, institution: str, folder: str) -> None:
        """Put the folder's marker."""
        self._custody.mark_folder(Area.HOMES, f"{institution}/{folder}/")

    def stat(self, institution: str, folder: str, name: str) -> ShelfEntry | None:
        """HeadObject."""
        found = self._custody.stat(self.key(institution, folder, name))
        return None if found is None else ShelfEntry(name, found.size, found.modified_at)

    def open(self, institution: str, folder: str, name: str) -> S3Reader:
        """HeadObject now (FileNotFoundError when missing); ranged GETs as read."""
        key = self.key(institution, folder, name)
        found = self._custody.stat(key)
        if found is None:
            raise FileNotFoundError(f"/{folder}/{name}: no such file")
        return S3Reader(self._custody, key, ShelfEntry(name, found.size, found.modified_at),
                        found.version)

    def remove(self, institution: str, folder: str, name: str) -> bool:
        """DeleteObject."""
        return self._custody.delete(self.key(institution, folder, name))

    def prune(self, institution: str, folder: str, *, older_than: float) -> list[str]:
        """Delete the folder's objects written before ``older_than``."""
        try:
            entries = self.files(institution, folder)
        except FileNotFoundError:
            return []
        return [entry.name for entry in entries if entry.modified_at < older_than
                and self.remove(institution, folder, entry.name)]

    def locate(self, institution: str, folder: str, name: str) -> str:
        """The object's ``s3://`` URL."""
        return self._custody.locate(self.key(institution, folder, name))


class S3Reader:
    """An object read by ranged GETs with one read-ahead window (see the module docstring);
    a lock keeps the window whole when SFTP reads arrive from several threads at once."""

    def __init__(self, custody: S3Custody, key: PayloadKey, entry: ShelfEntry,
                 version: str) -> None:
        self._custody = custody
        self._key = key
        self._entry = entry
        self._version = version
        self._lock = threading.Lock()
        self._start = 0
        self._window = b""

    @property
    def entry(self) -> ShelfEntry:
        """The object when it was opened."""
        return self._entry

    def read(self, offset: int, size: int) -> bytes:
        """From the window, or a GET of the READ_AHEAD-aligned window holding ``offset``
        (aligned, so the reads a client sends at once, which arrive in any order, mostly
        fall into one window instead of each fetching its own).  At most READ_AHEAD bytes
        a call (a short read, which SFTP allows), so memory stays one window whatever length
        a client asks for."""
        end = min(offset + min(size, READ_AHEAD), self._entry.size)
        if offset >= end:
            return b""
        with self._lock:
            if not self._start <= offset or end > self._start + len(self._window):
                start = offset - offset % READ_AHEAD
                self._window = self._get(start, max(end - start, READ_AHEAD))
                self._start = start
            return self._window[offset - self._start:end - self._start]

    def _get(self, offset: int, size: int) -> bytes:
        try:
            return self._custody.read_range(self._key, offset, size, self._version)
        except (PayloadExistsError, PayloadMissingError):  # 412 or 404: not what was opened
            raise FileChangedError(f"{self._entry.name} was replaced or removed while it "
                                   "was read; read it again") from None

    def close(self) -> None:
        """Drop the window."""
        with self._lock:
            self._window = b""
