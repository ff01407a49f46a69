"""Payloads in the local spool: the one-machine custody (the default).

Layout under the data volume (unchanged from before the custody interface):
``spool/uploads/``, ``spool/batches/``, ``spool/quarantine/`` and ``archive/`` (and
``homes`` is ``sftp/``: the local shelf, :class:`gateway.state.local_shelf.LocalShelf`, writes
the files there itself, which this custody then merely lists).  Every write
goes to a hidden temp name, is fsynced, then published by link or rename with the folder
fsynced too, so a reader sees nothing or all of a payload, across a power cut.  A create-only
put publishes with ``link(2)``, which fails rather than replace an existing name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from gateway.state.custody import (
    Area,
    CustodyError,
    PayloadExistsError,
    PayloadKey,
    PayloadMissingError,
    PayloadStat,
    chunks_of,
)
from gateway.state.spool import (
    TEMP_SUFFIX,
    Spool,
    fsync_directory,
    fsync_file,
    publish_file,
    temp_path_for,
)

_UNCHECKED = (Area.ARCHIVE, Area.HOMES)
"""Made on first use, not at start (the homes: the local shelf's own, see spool.create)."""


class LocalCustody:
    """Payloads as files of the data volume (see the module docstring)."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._folders = {Area.UPLOADS: spool.uploads, Area.BATCHES: spool.batches,
                         Area.QUARANTINE: spool.quarantine, Area.ARCHIVE: spool.archive,
                         Area.HOMES: spool.sftp}

    @property
    def place(self) -> str:
        """The data volume's folder."""
        return str(self._spool.root)

    def path_of(self, key: PayloadKey) -> Path:
        """The file a key names (local custody only: tests and the archive's links)."""
        return self._folders[key.area] / key.name

    def locate(self, key: PayloadKey) -> str:
        """The payload's file path."""
        return str(self.path_of(key))

    def put(self, key: PayloadKey, source: Path | bytes, *, replace: bool = False) -> None:
        """See Custody.put: a file source is fsynced and renamed (same volume), bytes are
        written to a temp file first."""
        final = self.path_of(key)
        with self._failing(key):
            final.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, bytes):
                temp = temp_path_for(final)
                try:
                    with open(temp, "wb") as handle:
                        handle.write(source)
                        handle.flush()
                        os.fsync(handle.fileno())
                    self._publish(key, temp, final, replace)
                finally:
                    temp.unlink(missing_ok=True)
            else:
                fsync_file(source)
                self._publish(key, source, final, replace)

    def _publish(self, key: PayloadKey, written: Path, final: Path, replace: bool) -> None:
        if replace:
            publish_file(written, final)
            return
        try:
            os.link(written, final)  # fails on an existing name: create-only
        except FileExistsError:
            raise PayloadExistsError(key, self.place, "a payload is already stored there") from None
        written.unlink()
        fsync_directory(final.parent)

    @contextmanager
    def scratch(self, key: PayloadKey) -> Iterator[Path]:
        """A hidden temp name beside the payload's file, so that put is a rename."""
        final = self.path_of(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_path_for(final)
        try:
            yield temp
        finally:
            temp.unlink(missing_ok=True)

    def open(self, key: PayloadKey) -> BinaryIO:
        """The payload's file, opened for reading."""
        with self._failing(key):
            return open(self.path_of(key), "rb")

    @contextmanager
    def local_path(self, key: PayloadKey) -> Iterator[Path]:
        """The spool file itself (no copy)."""
        path = self.path_of(key)
        if not path.is_file():
            raise PayloadMissingError(key, self.place, "no such payload")
        yield path

    def stream(self, key: PayloadKey) -> Iterator[bytes]:
        """The file's bytes, a megabyte at a time."""
        return chunks_of(self.open(key))

    def stat(self, key: PayloadKey) -> PayloadStat | None:
        """Size and mtime of the file, None when there is none."""
        try:
            status = self.path_of(key).stat()
        except FileNotFoundError:
            return None
        return PayloadStat(status.st_size, status.st_mtime)

    def size(self, key: PayloadKey) -> int | None:
        """The file's size, None when there is none."""
        found = self.stat(key)
        return None if found is None else found.size

    def move(self, key: PayloadKey, to: PayloadKey) -> None:
        """One rename (both areas are on the data volume), both folders fsynced."""
        target = self.path_of(to)
        with self._failing(key):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path_of(key), target)
            fsync_directory(target.parent)
            fsync_directory(self.path_of(key).parent)

    def copy(self, key: PayloadKey, to: PayloadKey) -> None:
        """A hard link (same bytes, no copy); nothing to do when ``to`` is that link."""
        source, target = self.path_of(key), self.path_of(to)
        with self._failing(key):
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and os.path.samefile(source, target):
                # rename(2) onto another link of the same file does nothing and would leave
                # the temp link behind: copying again must not add files.
                return
            temp = temp_path_for(target)
            try:
                os.link(source, temp)
                publish_file(temp, target)
            finally:
                temp.unlink(missing_ok=True)

    def delete(self, key: PayloadKey) -> bool:
        """Unlink the file (and the archive folders it leaves empty)."""
        path = self.path_of(key)
        with self._failing(key):
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            self._prune(path.parent, self._folders[key.area])
        return True

    @staticmethod
    def _prune(folder: Path, top: Path) -> None:
        """Remove ``folder`` and its parents up to ``top`` while they are empty."""
        while folder != top and folder.is_relative_to(top):
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): stop there
                return
            folder = folder.parent

    def keys(self, area: Area, prefix: str = "") -> Iterator[PayloadKey]:
        """Every visible file of the area under ``prefix``, in name order."""
        top = self._folders[area]
        # Only the folder the prefix names is walked (retention lists one batch's archive).
        start = top / prefix.rpartition("/")[0]
        if not start.is_dir():
            return iter(())
        names = sorted(str(path.relative_to(top)) for path in start.rglob("*")
                       if path.is_file() and not _hidden(path.relative_to(top)))
        return iter([PayloadKey(area, name) for name in names if name.startswith(prefix)])

    def sweep(self, grace_seconds: float) -> int:
        """Remove temp files older than the grace from the flat payload folders (not the
        archive: walking every batch's archive at each start would cost in proportion to
        history; a hidden temp link a crash left mid-archive stays, as before the custody)."""
        cutoff = time.time() - grace_seconds
        removed = 0
        for area, top in self._folders.items():
            if area is Area.ARCHIVE or not top.is_dir():
                continue
            for temp in top.glob(f".*{TEMP_SUFFIX}"):
                try:
                    old = temp.stat().st_mtime <= cutoff
                except FileNotFoundError:  # its writer renamed it into place meanwhile
                    continue
                if old:
                    temp.unlink(missing_ok=True)
                    removed += 1
        return removed

    def check(self) -> None:
        """The payload folders exist and are writable."""
        for area, folder in self._folders.items():
            if area not in _UNCHECKED and not os.access(folder, os.W_OK):
                raise CustodyError(None, self.place, f"{folder} is missing or not writable")

    @contextmanager
    def _failing(self, key: PayloadKey) -> Iterator[None]:
        """Turn the file system's errors into custody errors naming the key."""
        try:
            yield
        except FileNotFoundError:
            raise PayloadMissingError(key, self.place, "no such payload") from None
        except CustodyError:
            raise
        except OSError as error:
            raise CustodyError(key, self.place, error.strerror or str(error)) from error


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
