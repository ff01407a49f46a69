"""One SFTP session's uploads: what a clean close or a rename means for each file.

* A file closed under a final name is received (or, if it is a trigger file or a checksum
  sidecar, recorded as one).
* A file closed under a temporary name (``*.filepart``, ``*.part``, ``~``, leading dot ...)
  is kept for this session; renaming it onto a final name receives it under that name, once.
* Whatever is still open or never renamed when the session ends is discarded and logged:
  a dropped connection or a killed client never produces a received file.  A temp-named file
  closed cleanly but never renamed is also recorded for its sender (status.json and the next
  report), who may believe it delivered.

Files are told apart by their path in the inbox (``/inbox/batch/2026-fall/users.csv`` is not
``/inbox/users.csv``), and a rename stays within its upload folder: the folder chose the
import options the file was uploaded for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncssh
from asyncssh import SFTPName

from gateway.intake.config import IntakeOptions
from gateway.intake.inbox import Entry, listing, view
from gateway.intake.markers import Markers
from gateway.intake.naming import NameRules, Role
from gateway.intake.places import InboxFile
from gateway.intake.receiving import Receiver
from gateway.intake.requests import RequestDesk, RequestFile
from gateway.intake.uploads import UploadWriter
from gateway.logs import Bound
from gateway.state.records import UploadRecord
from gateway.state.states import UploadState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeServices:
    """What every session shares: the receiver, the marker handling and the export
    request desk."""

    receiver: Receiver
    markers: Markers
    requests: RequestDesk = field(default_factory=RequestDesk)


class UploadSession:
    """The uploads of one SFTP session of one institution; ``log_fields`` (its connection's:
    session, peer ...) go on every log line about them."""

    def __init__(self, institution: str, options: IntakeOptions,
                 services: IntakeServices, log_fields: Mapping[str, object] | None = None
                 ) -> None:
        self.institution = institution
        self.log_fields = log_fields or {}
        self._log = Bound(log, self.log_fields)
        self.options = options
        self.rules = NameRules.of(options)
        self._services = services
        self._receiver = services.receiver
        self._writing: set[UploadWriter] = set()
        self._staged: dict[str, UploadWriter] = {}
        """Temp-named uploads awaiting their rename, by display path."""
        self.requests: dict[str, RequestFile] = {}
        """Request files this session wrote, by name: stat finds them (clients check)."""
        self._made: set[str] = set()
        """Upload folders (and ``batch``, ``diff``) this session made: listed while it lasts."""

    def begin_request(self, name: str) -> RequestFile:
        """Start a request file ``/inbox/requests/<name>`` (see gateway.intake.requests);
        raises SFTPNoSuchFile when no export of that name can be requested."""
        self._services.requests.check(self.institution, name)
        request = RequestFile(name)
        self.requests[name] = request
        return request

    async def send_request(self, request: RequestFile) -> None:
        """The client closed a request file: hand it over.  Raises an SFTP error for the
        client when there is no such export."""
        try:
            await self._services.requests.submit(self.institution, request)
        except asyncssh.SFTPError as error:
            self.requests.pop(request.name, None)
            self._log.warning("export request refused", extra={
                "institution": self.institution, "export": request.name,
                "reason": str(error)})
            raise
        self._log.info("export requested", extra={"institution": self.institution,
                                                  "export": request.name})

    async def begin(self, file: InboxFile) -> UploadWriter:
        """Start a new upload of ``file`` (a temp name awaiting rename is replaced)."""
        writer = await self._receiver.open_upload(self.institution, self.options, file.name,
                                                  folder=file.folder,
                                                  log_fields=self.log_fields)
        self._writing.add(writer)
        return writer

    async def closed(self, writer: UploadWriter) -> None:
        """The client closed ``writer``: finish it according to its name's role."""
        self._writing.discard(writer)
        if self.rules.role(writer.name) is Role.TEMPORARY:
            if writer.failure is not None:
                await self._receiver.discard(writer, writer.failure)
                raise asyncssh.SFTPFailure(writer.failure)
            await self._replace_staged(writer)
            return
        await self._finish(writer, writer.name)

    async def flush(self, writer: UploadWriter) -> None:
        """fsync an upload on the client's request, off the event loop."""
        await self._receiver.run(writer.flush)

    async def abandoned(self, writer: UploadWriter) -> None:
        """The session ended with ``writer`` still open: nothing is received."""
        self._writing.discard(writer)
        await self._receiver.discard(writer, "the session ended before the file was closed")

    async def rename(self, old: InboxFile, new: InboxFile) -> None:
        """Receive the temp-named file ``old`` under ``new``'s name (or re-stage it if that
        is temporary too); raise an SFTP error saying why anything else cannot be renamed,
        including any rename out of ``old``'s upload folder."""
        if old.folder != new.folder:
            raise asyncssh.SFTPPermissionDenied(
                f"{old.display} -> {new.display}: a file cannot be moved to another folder "
                "(the folder chooses its import options); rename it within its folder, or "
                f"upload it again into the folder of {new.display}")
        writer = self._staged.pop(old.display, None)
        if writer is None:
            raise await self._not_renamable(old)
        writer.name = new.name
        if self.rules.role(new.name) is Role.TEMPORARY:
            await self._replace_staged(writer)
            return
        await self._finish(writer, new.name)

    async def remove(self, file: InboxFile, entries: dict[str, Entry]) -> None:
        """Drop a temp-named file, or take a received file out of this view (the gateway
        keeps and processes it: custody is never given back)."""
        writer = self._staged.pop(file.display, None)
        if writer is not None:
            await self._receiver.discard(writer, "removed by the client before its rename")
            return
        entry = entries.get(file.display)
        if entry is None or entry.upload_id is None:
            raise asyncssh.SFTPNoSuchFile(f"{file.display}: no such file")
        await self._receiver.run(self._receiver.receipts.hide, self.institution,
                                 [entry.upload_id])
        self._log.info("received file removed from the client's view; it is still processed",
                 extra={"institution": self.institution, "file": file.name,
                        "folder": file.folder, "upload_id": entry.upload_id})

    def make_folder(self, folder: str) -> None:
        """The client made a virtual folder below /inbox: nothing is created (every upload
        folder exists already); it is listed to this session, as clients expect."""
        self._made.add(folder)

    def remove_folder(self, folder: str) -> None:
        """The client removed a virtual folder: uploads in it are kept and processed; it is
        listed again only while something waits in it."""
        self._made.discard(folder)

    async def listing(self, folder: str | None) -> list[SFTPName]:
        """READDIR's entries (``.`` and ``..`` aside) of /inbox (``folder`` None), of
        ``batch`` or ``diff``, or of an upload folder."""
        return listing(folder, (await self.entries()).values(), self._made)

    async def end(self) -> None:
        """The session is over: discard every upload still open or never renamed."""
        for writer in list(self._writing):
            await self.abandoned(writer)
        staged, self._staged = self._staged, {}
        for writer in staged.values():
            await self._receiver.discard_reported(
                writer, "it was closed under a temporary name and never renamed to a final "
                        "name before the session ended, so it was not received: upload it "
                        "again and rename it when the upload is complete (or upload it under "
                        "its final name)")

    async def entries(self) -> dict[str, Entry]:
        """The inbox as this session sees it, every upload folder included, by display path."""
        now = time.time()
        pending, recent, hidden = await self._receiver.run(self._received, now)
        live = [Entry(w.name, w.size, now, folder=w.folder)
                for w in self._receiver.open_writers(self.institution)]
        return view(pending, recent, live, hidden)

    def _received(self, now: float) -> tuple[list[UploadRecord], list[Entry], set[int]]:
        """On the receiving threads: the waiting uploads, the recent ones, and which of
        them a client removed from view."""
        receipts = self._receiver.receipts
        pending = self._receiver.store.uploads(institution=self.institution,
                                               state=UploadState.RECEIVED)
        recent = receipts.recent(self.institution, now)
        ids = {upload.id for upload in pending}
        return pending, recent, receipts.hidden_among(self.institution, ids)

    async def entry(self, file: InboxFile) -> Entry | None:
        """The inbox entry ``file`` shows (as :meth:`entries` would), reading only the
        uploads of that name: clients stat every file they upload, whatever is waiting."""
        for writer in self._receiver.open_writers(self.institution):
            if writer.folder == file.folder and writer.name == file.name:
                return Entry(writer.name, writer.size, time.time(), folder=writer.folder)
        found, hidden = await self._receiver.run(self._named, file, time.time())
        if not found:
            return None
        newest = max(found, key=lambda entry: entry.upload_id or 0)
        if hidden:
            return (await self.entries()).get(newest.display)  # an older one may show
        return newest

    def _named(self, file: InboxFile, now: float) -> tuple[list[Entry], bool]:
        """On the receiving threads: the received entries named ``file``, and whether the
        newest of them was removed from view."""
        receipts = self._receiver.receipts
        waiting = self._receiver.store.waiting_named(self.institution, file.folder, file.name)
        found = [entry for entry in receipts.recent(self.institution, now)
                 if entry.folder == file.folder and entry.name == file.name]
        if waiting is not None:
            found.append(Entry(waiting.filename, waiting.size, waiting.received_at,
                               waiting.id, waiting.folder))
        newest = max((entry.upload_id or 0 for entry in found), default=0)
        return found, bool(newest) and bool(receipts.hidden_among(self.institution, [newest]))

    async def _finish(self, writer: UploadWriter, name: str) -> None:
        role = self.rules.role(name)
        if role is Role.TRIGGER:
            await self._services.markers.trigger(writer)
            return
        sidecar = self.rules.sidecar(name)
        if role is Role.SIDECAR and sidecar is not None:
            await self._services.markers.sidecar(writer, sidecar)
            return
        await self._receiver.receive(writer, name)

    async def _replace_staged(self, writer: UploadWriter) -> None:
        previous = self._staged.pop(writer.display, None)
        self._staged[writer.display] = writer
        if previous is not None:
            await self._receiver.discard(previous, "replaced by a newer file of that name")

    async def _not_renamable(self, file: InboxFile) -> asyncssh.SFTPError:
        if any(writer.display == file.display for writer in self._writing):
            return asyncssh.SFTPFailure(f"{file.display}: close the file before renaming it")
        if file.display in await self.entries():
            return asyncssh.SFTPPermissionDenied(
                f"{file.display} has been received and cannot be renamed; to upload under "
                f"another name, upload to a temporary name such as {file.name}.part and "
                "rename that")
        return asyncssh.SFTPNoSuchFile(f"{file.display}: no such file")

