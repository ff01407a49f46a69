"""The SFTP view an institution gets: its home with ``/inbox`` (upload) and ``/reports`` (read).

Every request is checked against an allow-list of (operation, place) pairs; anything else is
refused with a clear SFTP error.  Writes never touch an existing file: each upload goes to a
fresh temp file owned by the :class:`~gateway.intake.receiving.Receiver`, and becomes a
received upload only on a clean close, which is acknowledged after the data is durable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import sys
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NoReturn

import asyncssh
from asyncssh import SFTPAttrs, SFTPName

from gateway.intake.receiving import Receiver, UploadWriter
from gateway.state.spool import Spool

log = logging.getLogger(__name__)

INBOX = "inbox"
REPORTS = "reports"
_FOLDERS = (INBOX, REPORTS)
_WRITE_FLAGS = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC | asyncssh.FXF_APPEND


@dataclass(frozen=True)
class Place:
    """Where a client path points inside the home: the root, a folder, or a file in one."""

    folder: str | None
    name: str | None

    @property
    def display(self) -> str:
        """The path as the client would write it."""
        return "/" + "/".join(part for part in (self.folder, self.name) if part)


def locate(path: bytes) -> Place:
    """Resolve a client path to a Place, or raise an SFTP error saying what is wrong."""
    try:
        text = path.decode("utf-8")
    except UnicodeDecodeError:
        raise asyncssh.SFTPInvalidFilename("file names must be UTF-8") from None
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise asyncssh.SFTPInvalidFilename("file names must not contain control characters")
    parts = [part for part in posixpath.normpath(posixpath.join("/", text)).split("/") if part]
    if not parts:
        return Place(None, None)
    if parts[0] not in _FOLDERS or len(parts) > 2:
        raise asyncssh.SFTPPermissionDenied(
            f"{'/' + '/'.join(parts)}: only /inbox (uploads) and /reports (results) exist here")
    return Place(parts[0], parts[1] if len(parts) == 2 else None)


def _listed(place: Place, name: bytes) -> bool:
    """Whether a directory entry is shown: the two folders at the top, no hidden names."""
    if name in (b".", b".."):
        return True
    if place.folder is None:
        return name.decode(errors="replace") in _FOLDERS
    return not name.startswith(b".")


def _closed_by_client() -> bool:
    """True when SFTPServer.close was called for the client's CLOSE request.

    asyncssh calls ``close`` both for a client's CLOSE request and, when a session ends, for
    every handle the client left open; only the first means "the file is complete".  The
    caller's frame is the one reliable signal it gives.  The intake tests pin this behaviour
    (a client killed mid-upload must never produce a received file).
    """
    return sys._getframe(2).f_code.co_name == "_process_close"


class InstitutionSFTPServer(asyncssh.SFTPServer):
    """One SFTP session of one institution, chrooted to its home."""

    def __init__(self, chan: asyncssh.SSHServerChannel[Any], *, institution: str,
                 spool: Spool, receiver: Receiver) -> None:
        home = spool.home(institution)
        super().__init__(chan, chroot=os.fsencode(home))
        self._institution = institution
        self._receiver = receiver

    # -- files -----------------------------------------------------------------------------

    def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> object:
        """Open a new upload in /inbox for writing, or a report in /reports for reading."""
        place = locate(path)
        if place.name is None:
            raise asyncssh.SFTPFailure(f"{place.display} is a folder")
        if pflags & _WRITE_FLAGS:
            if place.folder != INBOX:
                raise asyncssh.SFTPPermissionDenied(f"{place.display}: upload into /inbox")
            if place.name.startswith("."):
                raise asyncssh.SFTPInvalidFilename(
                    f"{place.display}: names starting with '.' are reserved")
            return self._receiver.begin(self._institution, place.name)
        if place.folder != REPORTS:
            raise asyncssh.SFTPPermissionDenied(
                f"{place.display}: uploads cannot be read back; reports are in /reports")
        return super().open(path, pflags, attrs)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        """Write to an upload; reports are read-only."""
        if not isinstance(file_obj, UploadWriter):
            raise asyncssh.SFTPPermissionDenied("reports are read-only")
        file_obj.write(offset, data)
        return len(data)

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        """Read a report; uploads are write-only."""
        if isinstance(file_obj, UploadWriter):
            raise asyncssh.SFTPPermissionDenied("uploads cannot be read back")
        data = super().read(file_obj, offset, size)
        assert isinstance(data, bytes)
        return data

    def close(self, file_obj: object) -> Any:
        """Complete an upload on the client's CLOSE; discard it when the session just ended."""
        if not isinstance(file_obj, UploadWriter):
            return super().close(file_obj)
        if _closed_by_client():
            return self._complete(file_obj)
        self._receiver.discard(file_obj)
        return None

    async def _complete(self, writer: UploadWriter) -> None:
        try:
            await asyncio.to_thread(self._receiver.complete, writer)
        except OSError as error:
            log.error("upload could not be stored: %s", error.strerror,
                      extra={"institution": writer.institution, "file": writer.filename})
            raise asyncssh.SFTPFailure(
                f"{writer.filename}: the gateway could not store this upload "
                f"({error.strerror}); nothing was received, please upload it again") from None

    def fstat(self, file_obj: object) -> Any:
        """Attributes of an open upload or report."""
        if isinstance(file_obj, UploadWriter):
            return os.fstat(file_obj.fd)
        return super().fstat(file_obj)

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        """Accepted and ignored: received files keep the gateway's own times and modes."""

    def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        """Accepted and ignored for inbox files (clients set times after upload); else refused."""
        if locate(path).folder != INBOX:
            raise asyncssh.SFTPPermissionDenied("attributes can only be set in /inbox")

    def fsync(self, file_obj: object) -> None:
        """Flush an upload to disk on request (it is flushed at close regardless)."""
        if isinstance(file_obj, UploadWriter):
            os.fsync(file_obj.fd)

    # -- names -----------------------------------------------------------------------------

    def stat(self, path: bytes) -> Any:
        """Attributes of the home, a folder, or a visible file."""
        locate(path)
        return super().stat(path)

    def lstat(self, path: bytes) -> Any:
        """Same as stat: there are no links in a home."""
        return self.stat(path)

    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        """List the home (inbox, reports) or a folder, hiding the gateway's temp names."""
        place = locate(path)
        if place.name is not None:
            raise asyncssh.SFTPNoSuchFile(f"{place.display} is not a folder")
        async for entry in super().scandir(path):
            name = entry.filename
            assert isinstance(name, bytes)
            if _listed(place, name):
                yield entry

    def remove(self, path: bytes) -> None:
        """Refused: received files are the gateway's."""
        _refuse()

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused."""
        _refuse()

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused."""
        _refuse()

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        """Refused: the home has exactly two folders."""
        _refuse()

    def rmdir(self, path: bytes) -> None:
        """Refused."""
        _refuse()

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused: links could point outside the home."""
        _refuse()

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused."""
        _refuse()

    def readlink(self, path: bytes) -> bytes:
        """Refused: there are no links in a home."""
        _refuse()


def _refuse() -> NoReturn:
    raise asyncssh.SFTPPermissionDenied(
        "not allowed here: upload files into /inbox and read results in /reports")
