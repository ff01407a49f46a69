"""The read side of an institution's home: ``/reports`` and ``/outbox`` served from the shelf.

What a vendor reads there is whatever the shelf holds (:mod:`gateway.state.shelf`): the SFTP
home on the data volume on one machine, the bucket in cluster mode, so a vendor connected to
any node reads what the institution's lease holder published.  Every shelf call blocks (disk
or S3), so each runs in a thread and the event loop never waits on storage.  Files are
read-only (mode 0444); a missing file or export folder is SFTPNoSuchFile, and a storage
failure is one operator log line and a plain SFTPFailure for the client (never the bucket's
words or a credential).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import TypeVar

import asyncssh
from asyncssh import SFTPAttrs, SFTPName

from gateway.intake.inbox import folder_attrs
from gateway.intake.places import OUTBOX, REPORTS, Place
from gateway.state.shelf import FileChangedError, Shelf, ShelfEntry, ShelfReader, export_folder

log = logging.getLogger(__name__)

READ_ONLY_FILE = stat.S_IFREG | 0o444
_T = TypeVar("_T")


def file_attrs(entry: ShelfEntry) -> SFTPAttrs:
    """The attributes a client sees of a published file."""
    when = int(entry.modified_at)
    return SFTPAttrs(type=asyncssh.FILEXFER_TYPE_REGULAR, size=entry.size,
                     permissions=READ_ONLY_FILE, atime=when, mtime=when)


def shelf_folder(place: Place) -> str:
    """The shelf folder of a place in /reports or /outbox: ``reports``, ``outbox`` or
    ``outbox/<export>``."""
    if place.folder == OUTBOX and place.subfolder is not None:
        return export_folder(place.subfolder)
    return REPORTS if place.folder == REPORTS else OUTBOX


class ShelfFile:
    """A published file a client opened for reading."""

    def __init__(self, reader: ShelfReader, display: str) -> None:
        self.reader = reader
        self.display = display

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Answer asyncssh's ``ranges@asyncssh.com`` (it seeks with SEEK_DATA and
        SEEK_HOLE): a published file is never sparse, all data up to its end."""
        size = self.reader.entry.size
        if whence == os.SEEK_DATA:
            if offset >= size:
                raise OSError(errno.ENXIO, "no data past the end")
            return offset
        if whence == os.SEEK_HOLE:
            return size
        raise asyncssh.SFTPOpUnsupported(f"{self.display}: seeking is not supported")


class ShelfView:
    """One institution's /reports and /outbox (see the module docstring)."""

    def __init__(self, shelf: Shelf, institution: str, reads: Executor | None = None) -> None:
        """``reads``: the threads shelf calls run on (None: asyncio's default pool)."""
        self._shelf = shelf
        self._institution = institution
        self._reads = reads

    async def open(self, place: Place) -> ShelfFile:
        """Open the file at ``place`` (a file in /reports or an export folder)."""
        assert place.name is not None  # file_in checked it
        reader = await self._call(place, self._shelf.open, self._institution,
                                  shelf_folder(place), place.name)
        return ShelfFile(reader, place.display)

    async def read(self, file: ShelfFile, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (empty at the end: EOF)."""
        with _answering(file.display):
            return await asyncio.get_running_loop().run_in_executor(
                self._reads, file.reader.read, offset, size)

    async def stat(self, place: Place) -> SFTPAttrs:
        """A folder's or a file's attributes; SFTPNoSuchFile when it is not there."""
        if place.name is None:
            if place.folder == OUTBOX and place.subfolder is not None:
                names = [entry.name for entry in await self._call(
                    place, self._shelf.folders, self._institution, OUTBOX)]
                if place.subfolder not in names:
                    raise asyncssh.SFTPNoSuchFile(f"{place.display}: no such folder")
            return folder_attrs()
        found = await self._call(place, self._shelf.stat, self._institution,
                                 shelf_folder(place), place.name)
        if found is None:
            raise asyncssh.SFTPNoSuchFile(f"{place.display}: no such file")
        return file_attrs(found)

    async def listing(self, place: Place) -> list[SFTPName]:
        """The files of /reports or an export folder, or /outbox's export folders."""
        folder = shelf_folder(place)
        if folder == OUTBOX:
            folders = await self._call(place, self._shelf.folders, self._institution, OUTBOX)
            return [SFTPName(os.fsencode(entry.name), attrs=folder_attrs())
                    for entry in folders]
        files = await self._call(place, self._shelf.files, self._institution, folder)
        return [SFTPName(os.fsencode(entry.name), attrs=file_attrs(entry)) for entry in files]

    async def _call(self, place: Place, call: Callable[..., _T], *args: str) -> _T:
        if place.name is not None and place.name.startswith("."):
            # Temp names of files being published: never shown, never readable.
            raise asyncssh.SFTPNoSuchFile(f"{place.display}: no such file")
        with _answering(place.display):
            return await asyncio.get_running_loop().run_in_executor(self._reads, call, *args)


@contextlib.contextmanager
def _answering(display: str) -> Iterator[None]:
    """Shelf errors as SFTP answers: missing is "no such file"; anything else is logged for
    the operator and answered plainly."""
    try:
        yield
    except FileChangedError as changed:
        raise asyncssh.SFTPNoSuchFile(f"{display}: {changed}") from None
    except FileNotFoundError:
        raise asyncssh.SFTPNoSuchFile(f"{display}: no such file or folder") from None
    except asyncssh.SFTPError:
        raise
    except Exception as error:
        log.error("published file not readable", extra={
            "file": display, "error": f"{type(error).__name__}: {error}"})
        raise asyncssh.SFTPFailure(f"{display}: cannot be read right now; try again "
                                   "later") from None
