"""The SFTP view an institution gets: its home with ``/inbox`` (upload), ``/reports`` and
``/outbox`` (read: what the shelf holds, see :mod:`gateway.intake.shelf_view`).

Allowed: write, list, stat, rename and remove within /inbox and its upload folders
(``/inbox/batch/<term_sis_id>/``, ``/inbox/diff/<identifier>/``), which can also be made and
removed (both no-ops: they are virtual); read, list and stat in /reports and in /outbox and
its export folders (``/outbox/<export>/``); write a request file ``/inbox/requests/<export>``
(see :mod:`gateway.intake.requests`: never an upload).  Every request
resolves its path with :func:`~gateway.intake.places.locate` first; everything else (links,
other folders, attributes outside the inbox, ``..``, control characters, v5/v6 append flags)
is refused with an SFTP error that says what is wrong and what to do.  Uploads never
touch an existing file: each goes to a fresh temp file owned by the receiver, and the inbox
listing is virtual (see :mod:`gateway.intake.inbox`), so no request reaches a spool file.

Requests this server cannot honour are answered "not supported" (SFTP OP_UNSUPPORTED) with
the reason, never OK while being ignored: a truncate that would change a file's size (on an
open upload it also fails the upload), asyncssh's ``ranges@asyncssh.com`` on an upload, file
system statistics, byte-range locks (asyncssh's default answer).  Times and modes set in
/inbox are the one thing accepted and ignored: clients set them after every upload, and
they change nothing the gateway receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Executor
from typing import Any, NoReturn

import asyncssh
from asyncssh import SFTPAttrs, SFTPName

from gateway.intake.inbox import Entry, folder_attrs
from gateway.intake.places import (
    BATCH_FOLDERS,
    DIFF_FOLDERS,
    FOLDERS,
    INBOX,
    OUTBOX,
    REPORTS,
    REQUESTS,
    UPLOAD_FOLDERS,
    InboxFile,
    Place,
    canonical,
    file_in,
    inbox_file,
    inbox_subfolder,
    locate,
    request_name,
)
from gateway.intake.replies import ReplyBatch
from gateway.intake.requests import RequestFile
from gateway.intake.session import UploadSession
from gateway.intake.shelf_view import ShelfFile, ShelfView, file_attrs
from gateway.intake.uploads import RESUME_REFUSED, WRITE_ONLY, UploadWriter
from gateway.state.database import StoreUnavailable
from gateway.state.shelf import Shelf

log = logging.getLogger(__name__)

_WRITE_FLAGS = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC | asyncssh.FXF_APPEND
_V56_APPEND = asyncssh.FXF_APPEND_DATA | asyncssh.FXF_APPEND_DATA_ATOMIC
_UPLOAD_HERE = "upload files into /inbox"
_UPLOAD_FOLDER_PATHS = f"{BATCH_FOLDERS} and {DIFF_FOLDERS}"
_FOLDERS_MADE = f"the only folders that can be made are {_UPLOAD_FOLDER_PATHS}"


def _closed_by_client() -> bool:
    """True when SFTPServer.close was called for the client's CLOSE request.

    asyncssh calls ``close`` both for a client's CLOSE request and, when a session ends, for
    every handle the client left open; only the first means "the file is complete".  The
    caller's frame is the one signal it gives; asyncssh is pinned to a tested range and the
    intake tests pin this behaviour (a client killed mid-upload never produces a file).
    """
    return sys._getframe(2).f_code.co_name == "_process_close"


class InstitutionSFTPServer(asyncssh.SFTPServer):
    """One SFTP session of one institution, confined to its home."""

    def __init__(self, chan: asyncssh.SSHServerChannel[Any], *, home: bytes,
                 session: UploadSession, shelf: Shelf, reads: Executor | None = None,
                 touch: Callable[[], None] = lambda: None) -> None:
        """``shelf`` holds /reports and /outbox (see :mod:`gateway.intake.shelf_view`),
        read on the ``reads`` threads (None: asyncio's default pool);
        ``touch`` is called on every request: the connection's idle watch (see
        :class:`gateway.intake.connections.IdleWatch`) closes it after none for a while."""
        super().__init__(chan, chroot=home)  # no request reaches the home's files directly
        self._session = session
        self._published = ShelfView(shelf, session.institution, reads)
        self._touch = touch
        self._loop = asyncio.get_running_loop()
        ReplyBatch(chan, self._loop)  # the replies of a burst of requests go as one write

    def format_user(self, uid: int | None) -> str:
        """``ls -l``'s owner column: the institution (its files are its own, whatever the
        gateway's uid on the disk)."""
        return self._session.institution

    def format_group(self, gid: int | None) -> str:
        """``ls -l``'s group column: the institution too."""
        return self._session.institution

    # -- files -----------------------------------------------------------------------------

    def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> object:
        """Start a new upload in /inbox or an upload folder, or open a report for reading."""
        self._touch()
        place = locate(path)
        requested = request_name(place)
        if pflags & _WRITE_FLAGS and requested is not None:
            with _store_trouble(place.display):
                return self._session.begin_request(requested)
        if pflags & _WRITE_FLAGS:
            file = inbox_file(place, UPLOAD_FOLDERS)
            if pflags & asyncssh.FXF_APPEND:
                raise asyncssh.SFTPOpUnsupported(f"{place.display}: {RESUME_REFUSED}")
            return self._begin(file, place)
        file_in(place, OUTBOX if place.folder == OUTBOX else REPORTS, WRITE_ONLY)
        return self._published.open(place)

    async def _begin(self, file: InboxFile, place: Place) -> UploadWriter:
        """Start an upload; its store round trips run off the event loop."""
        with _store_trouble(place.display):
            return await self._session.begin(file)

    def open56(self, path: bytes, desired_access: int, flags: int,
               attrs: SFTPAttrs) -> object:
        """SFTP v5/v6 opens go through the same rules as v3 ones."""
        if flags & _V56_APPEND or desired_access & asyncssh.ACE4_APPEND_DATA:
            raise asyncssh.SFTPOpUnsupported(f"{locate(path).display}: {RESUME_REFUSED}")
        writing = desired_access & asyncssh.ACE4_WRITE_DATA
        return self.open(path, _WRITE_FLAGS & ~asyncssh.FXF_APPEND if writing
                         else asyncssh.FXF_READ, attrs)

    def write(self, file_obj: object, offset: int, data: bytes) -> int | Awaitable[int]:
        """Write to an upload (awaitable only while its disk lags); reports are read-only."""
        self._touch()
        if isinstance(file_obj, RequestFile):
            file_obj.write(offset, data)
            return len(data)
        if not isinstance(file_obj, UploadWriter):
            raise asyncssh.SFTPPermissionDenied("reports and exports are read-only")
        backlog = file_obj.write(offset, data)
        return len(data) if backlog is None else _after(backlog, len(data))

    def read(self, file_obj: object, offset: int, size: int) -> Awaitable[bytes]:
        """Read a report or an export (off the event loop); uploads are write-only."""
        self._touch()
        if not isinstance(file_obj, ShelfFile):
            assert isinstance(file_obj, UploadWriter | RequestFile)
            raise asyncssh.SFTPPermissionDenied(f"{file_obj.display}: {WRITE_ONLY}")
        return self._published.read(file_obj, offset, size)

    def close(self, file_obj: object) -> Any:
        """Finish an upload on the client's CLOSE; discard it when the session just ended."""
        self._touch()
        if isinstance(file_obj, RequestFile):
            # A request counts only when the client closes it; a dropped session asks nothing.
            return self._session.send_request(file_obj) if _closed_by_client() else None
        if isinstance(file_obj, ShelfFile):
            file_obj.reader.close()
            return None
        assert isinstance(file_obj, UploadWriter)
        if _closed_by_client():
            return self._session.closed(file_obj)
        return self._session.abandoned(file_obj)

    def fstat(self, file_obj: object) -> Any:
        """Attributes of an open upload or report."""
        if isinstance(file_obj, UploadWriter):
            return Entry(file_obj.name, file_obj.size, self._loop.time()).attrs()
        if isinstance(file_obj, RequestFile):
            return file_obj.attrs()
        assert isinstance(file_obj, ShelfFile)
        return file_attrs(file_obj.reader.entry)

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        """For an upload, times and modes are accepted and ignored (clients set them) and a
        size only if it is the current one (see UploadWriter.truncate: any other fails the
        upload); refused for reports."""
        if isinstance(file_obj, RequestFile):
            return  # times and modes of a request change nothing
        if not isinstance(file_obj, UploadWriter):
            _refuse("reports and exports are read-only")
        if attrs.size is not None:
            file_obj.truncate(attrs.size)

    async def fsync(self, file_obj: object) -> None:
        """Flush an upload to disk on request, off the event loop (close flushes anyway)."""
        if isinstance(file_obj, UploadWriter):
            await self._session.flush(file_obj)

    # -- names -----------------------------------------------------------------------------

    def realpath(self, path: bytes) -> bytes:
        """The absolute form of ``path`` within the home (never outside it)."""
        self._touch()
        return canonical(path)

    async def stat(self, path: bytes) -> Any:
        """Attributes of the home, a folder (every upload folder is one), an inbox entry or
        a report."""
        self._touch()
        place = locate(path)
        if place.folder in (OUTBOX, REPORTS):
            return await self._published.stat(place)
        if place.subfolder == REQUESTS:
            return self._request_attrs(place)
        if place.name is None:
            return folder_attrs()
        return (await self._entry(place)).attrs()

    def _request_attrs(self, place: Place) -> SFTPAttrs:
        """The requests folder, or a request file this session sent."""
        if place.name is None:
            return folder_attrs()
        request = self._session.requests.get(place.name)
        if request is None:
            raise asyncssh.SFTPNoSuchFile(f"{place.display}: no such file")
        return request.attrs()

    async def _entry(self, place: Place) -> Entry:
        """The inbox file at ``place``; raise SFTPNoSuchFile when there is none."""
        entry = await self._session.entry(InboxFile(place.subfolder, place.name or ""))
        if entry is None:
            raise asyncssh.SFTPNoSuchFile(f"{place.display}: no such file")
        return entry

    async def lstat(self, path: bytes) -> Any:
        """Same as stat: there are no links in a home."""
        return await self.stat(path)

    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        """List the home (inbox, reports, outbox), the virtual inbox and its folders, the
        request files this session sent, the reports folder, or /outbox and its export
        folders."""
        self._touch()
        place = locate(path)
        if place.name is not None:
            raise asyncssh.SFTPNoSuchFile(f"{place.display} is not a folder; the folders are "
                                          f"/inbox, /reports, /outbox/<export>/ and "
                                          f"{_UPLOAD_FOLDER_PATHS}")
        for dot in (b".", b".."):
            yield SFTPName(dot, attrs=folder_attrs())
        if place.folder is None:
            for folder in FOLDERS:
                yield SFTPName(folder.encode(), attrs=folder_attrs())
        elif place.subfolder == REQUESTS:
            for request in self._session.requests.values():
                yield SFTPName(request.name.encode(), attrs=request.attrs())
        elif place.folder == INBOX:
            for name in await self._session.listing(place.subfolder):
                yield name
        else:
            for entry in await self._published.listing(place):
                yield entry

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        """Rename a temp-named upload onto its final name in its folder (this receives it)."""
        self._touch()
        _refuse_request(locate(oldpath), "renamed")
        old = inbox_file(locate(oldpath), "only uploads in /inbox can be renamed")
        new = inbox_file(locate(newpath), "uploads can only be renamed within /inbox")
        await self._session.rename(old, new)

    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        """Same as rename: a name uploaded twice is two uploads, so nothing is overwritten."""
        await self.rename(oldpath, newpath)

    async def remove(self, path: bytes) -> None:
        """Remove a temp-named upload, or hide a received one from the inbox listing."""
        self._touch()
        _refuse_request(locate(path), "removed")
        file = inbox_file(locate(path), "only files in /inbox can be removed")
        await self._session.remove(file, await self._session.entries())

    async def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        """In /inbox, times and modes are accepted and ignored (clients set them after an
        upload) and a size (truncate) only if it is the file's own; else refused."""
        place = locate(path)
        if place.folder != INBOX:
            _refuse("attributes can only be set in /inbox (and are ignored there)")
        if place.subfolder == REQUESTS:
            return  # times and modes of a request change nothing
        if attrs.size is not None:
            await self._check_size_kept(place, attrs.size)

    async def lsetstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        """Same as setstat: there are no links to set attributes on."""
        await self.setstat(path, attrs)

    async def _check_size_kept(self, place: Place, size: int) -> None:
        """Raise SFTPOpUnsupported unless ``place`` is an inbox file of ``size`` bytes: what
        was received is kept as it arrived, and saying OK would pretend otherwise."""
        if place.name is None:
            raise asyncssh.SFTPOpUnsupported(f"{place.display} is a folder; truncate is not "
                                             "supported")
        entry = await self._entry(place)
        if entry.size != size:
            raise asyncssh.SFTPOpUnsupported(
                f"{place.display}: truncate (to {size} bytes; the file has {entry.size}) is "
                "not supported: files are kept as they arrived; upload the whole file again "
                "to send other contents")

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        """A no-op success for the inbox's virtual folders (they always exist; clients make
        them before uploading, again and again); refused for any other folder."""
        folder = inbox_subfolder(locate(path))
        if folder is None:
            _refuse(_FOLDERS_MADE)
        self._session.make_folder(folder)

    def rmdir(self, path: bytes) -> None:
        """A no-op success for the inbox's virtual folders (what waits in them is still
        processed); refused for every other folder."""
        folder = inbox_subfolder(locate(path))
        if folder is None:
            _refuse("folders cannot be removed")
        self._session.remove_folder(folder)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused: links could point outside the home."""
        _refuse("links are not allowed")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        """Refused: links could point outside the home."""
        _refuse("links are not allowed")

    def readlink(self, path: bytes) -> bytes:
        """Refused: there are no links in a home."""
        locate(path)
        _refuse("there are no links here")

    def statvfs(self, path: bytes) -> NoReturn:
        """Refused: the gateway's disks are not the client's business."""
        raise asyncssh.SFTPOpUnsupported("file system information is not available")

    def fstatvfs(self, file_obj: object) -> NoReturn:
        """Refused, like statvfs."""
        raise asyncssh.SFTPOpUnsupported("file system information is not available")

    async def exit(self) -> None:
        """The session ended: discard unfinished uploads, and report exit status 0 as
        OpenSSH's sftp-server does (scp treats a session without one as failed)."""
        await self._session.end()
        with contextlib.suppress(OSError, asyncssh.Error):
            self.channel.exit(0)


async def _after(backlog: Awaitable[None], written: int) -> int:
    await backlog
    return written


def _refuse(why: str) -> NoReturn:
    raise asyncssh.SFTPPermissionDenied(f"not allowed: {why}; {_UPLOAD_HERE} and read results "
                                        "in /reports and exports in /outbox")


def _refuse_request(place: Place, action: str) -> None:
    """Request files are sent, not kept: there is nothing to rename or remove."""
    if place.subfolder == REQUESTS:
        _refuse(f"request files cannot be {action} (the request was made when the file was "
                "closed)")


@contextlib.contextmanager
def _store_trouble(display: str) -> Iterator[None]:
    """An open that reads the store while the store is unreachable: one operator log line
    with the reason, and a plain answer for the client (never the database's name or the
    driver's words, which asyncssh would otherwise pass on as "Uncaught exception")."""
    try:
        yield
    except StoreUnavailable as error:
        log.error("upload refused: the store is unavailable",
                  extra={"file": display, "error": str(error)})
        raise asyncssh.SFTPFailure(f"{display}: the gateway cannot take uploads right now; "
                                   "nothing was received, try again later") from None
