"""Taking custody of uploaded bytes: temp file while writing, durable upload on clean close.

An upload is written to ``spool/incoming`` under a random name.  Only when the client closes
it cleanly (or renames its temp name onto a final name) does :meth:`Receiver.receive` verify
it is whole, flush it, hand it to the custody under a fresh payload name and record it
RECEIVED naming that payload; the client's request is answered only after that.  Anything
else ends in :meth:`Receiver.discard`, and recovery removes whatever a crash leaves in
``incoming``: half-written data is never received.

Every log line about an upload carries its connection's fields (``session``, ``peer`` ...: see
:mod:`gateway.intake.auth`) besides institution, file and folder.

Disk work runs on the receiver's own small thread pool, never on the event loop and never
behind password hashing or the queue runners, so acknowledgements are not delayed by them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncssh

from gateway.intake.config import IntakeOptions
from gateway.intake.in_flight import InFlightShare, ThisNodeOnly
from gateway.intake.inbox import Entry, ReceiptBook, Receipts
from gateway.intake.limits import Allowance
from gateway.intake.spooling import DiskQueue, Spooler
from gateway.intake.uploads import UploadWriter
from gateway.state.custody import Custody, CustodyError, PayloadKey
from gateway.state.diskspace import disk_space
from gateway.state.protocols import StateStore
from gateway.state.records import UploadRecord
from gateway.state.spool import Spool
from gateway.web.metrics import UPLOADS_REFUSED

log = logging.getLogger(__name__)

T = TypeVar("T")


class RefusedError(Exception):
    """An upload that must not be received; the message is for the client."""


class Receiver:
    """Turns cleanly closed uploads into RECEIVED uploads.  Owned by the event loop; its
    blocking work runs on its own threads."""

    def __init__(self, store: StateStore, spool: Spool, on_received: Callable[[], None],
                 *, custody: Custody, workers: int = 4, min_free_bytes: int = 0,
                 in_flight: InFlightShare | None = None,
                 receipts: ReceiptBook | None = None) -> None:
        self.store = store
        self.spool = spool
        self.custody = custody
        self.min_free_bytes = min_free_bytes
        self.receipts: ReceiptBook = receipts or Receipts()
        self.on_received = on_received
        self.on_discarded: Callable[[str], None] = lambda _: None
        """Called (on the receiving threads) with the institution after a discard was
        recorded for its sender (the daemon refreshes its status.json)."""
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="receiving")
        self._opener = ThreadPoolExecutor(2, thread_name_prefix="opening")
        self._spooling = Spooler(2)
        """Writes and hashes uploads' bytes (see gateway.intake.spooling)."""
        self._lock = threading.Lock()
        self._open: dict[str, set[UploadWriter]] = {}
        self._allowances: dict[str, Allowance] = {}
        self._running: set[asyncio.Future[Any]] = set()
        self.in_flight: InFlightShare = in_flight or ThisNodeOnly()
        """Uploads being written on other nodes (a cluster's; none on one machine)."""
        self.in_flight.start(self._all_open)

    # -- writers ---------------------------------------------------------------------------

    async def open_upload(self, institution: str, options: IntakeOptions, name: str, *,
                          folder: str | None = None,
                          log_fields: Mapping[str, object] | None = None) -> UploadWriter:
        """:meth:`begin` for an SFTP request: the free-space and quota checks and the
        cluster's open-upload row (store round trips) run on the receiving threads, so a slow
        or unreachable database delays this request only, never the event loop."""
        await self._opening(self._check_room, institution, options, name, folder, log_fields)
        writer = self._new_writer(institution, options, name, folder, log_fields)
        try:
            await self._opening(self.in_flight.opened, writer)  # before the client writes
        except BaseException:
            # Cancelled too (the session ended): the row, if written, expires.
            await asyncio.shield(self.run(self.end, writer, received=False))
            raise
        return writer

    async def _opening(self, work: Callable[..., T], *args: object) -> T:
        """Run an open's blocking checks on threads of their own: never behind uploads
        being completed (in cluster mode each is a whole PUT to the bucket)."""
        return await asyncio.get_running_loop().run_in_executor(self._opener,
                                                                lambda: work(*args))

    def begin(self, institution: str, options: IntakeOptions, name: str, *,
              folder: str | None = None,
              log_fields: Mapping[str, object] | None = None) -> UploadWriter:
        """Open a fresh temp file for an upload of ``name`` by ``institution`` into upload
        folder ``folder`` (None: /inbox itself); ``log_fields`` (the connection's) go on
        every line about it.  Raises SFTPFailure when the data volume is below its
        free-space floor: better refuse a new upload than fill the disk.  Blocking (tools
        and tests); SFTP requests use :meth:`open_upload`."""
        self._check_room(institution, options, name, folder, log_fields)
        writer = self._new_writer(institution, options, name, folder, log_fields)
        try:
            self.in_flight.opened(writer)  # before the client writes: other sorters wait
        except BaseException:
            self.end(writer, received=False)
            raise
        return writer

    def _check_room(self, institution: str, options: IntakeOptions, name: str,
                    folder: str | None, log_fields: Mapping[str, object] | None) -> None:
        """Refuse an upload when the data volume is below its floor; bring the
        institution's quota up to date with what is waiting and what other nodes write."""
        space = disk_space(self.spool.root, self.min_free_bytes)
        if not space.above_floor:
            UPLOADS_REFUSED.labels(reason="disk_space").inc()
            log.error("upload refused", extra={
                **(log_fields or {}), "institution": institution, "file": name,
                "folder": folder, "reason": "disk space below the floor",
                "free_bytes": space.free_bytes})
            raise asyncssh.SFTPFailure(f"{name}: upload refused, the gateway is low on disk "
                                       "space; nothing was received, try again later")
        allowance = self.allowance(institution, options.max_pending_bytes)
        # Bytes being written on other nodes count too: as of their last refresh.
        allowance.refresh(self.pending_bytes(institution)
                          + self.in_flight.elsewhere(institution).bytes,
                          options.max_pending_bytes)

    def _new_writer(self, institution: str, options: IntakeOptions, name: str,
                    folder: str | None, log_fields: Mapping[str, object] | None
                    ) -> UploadWriter:
        """A writer on a fresh temp file in ``incoming``, counted as open on this node."""
        path = self.spool.incoming / f"{institution}.{secrets.token_hex(8)}.part"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)  # RDWR: sidecars are read
        writer = UploadWriter(institution=institution, name=name, path=path, fd=fd,
                              max_bytes=options.max_file_bytes,
                              allowance=self.allowance(institution, options.max_pending_bytes),
                              disk=DiskQueue(fd, self._spooling, _running_loop()),
                              folder=folder,
                              log_fields=dict(log_fields or {}))
        with self._lock:
            self._open.setdefault(institution, set()).add(writer)
        return writer

    def open_writers(self, institution: str) -> list[UploadWriter]:
        """Uploads of ``institution`` being written now, in any session."""
        with self._lock:
            return list(self._open.get(institution, ()))

    def uploads_open(self, institution: str) -> int:
        """How many uploads of ``institution`` are being written now, on any node."""
        with self._lock:
            here = len(self._open.get(institution, ()))
        return here + self.in_flight.elsewhere(institution).uploads

    def _all_open(self) -> list[UploadWriter]:
        with self._lock:
            return [writer for writers in self._open.values() for writer in writers]

    def allowance(self, institution: str, limit: int) -> Allowance:
        """The institution's pending-bytes quota (created on first use)."""
        with self._lock:
            return self._allowances.setdefault(institution, Allowance(limit))

    def pending_bytes(self, institution: str) -> int:
        """Bytes of the institution's uploads received and not yet batched (one row of the
        store's running totals, whatever is waiting).  Blocking: a store round trip."""
        return self.store.waiting_bytes(institution)

    # -- ending an upload ------------------------------------------------------------------

    async def receive(self, writer: UploadWriter, name: str) -> int:
        """Receive ``writer``'s bytes as an upload called ``name``, in the writer's upload
        folder; return its id.

        Returns only when the bytes and the record survive any crash.  Raises an SFTP error
        telling the client that nothing was received (and logs why) on any failure.
        """
        try:
            return await self.run(self._receive, writer, name)
        except RefusedError as refusal:
            log.warning("upload refused", extra={**_fields(writer, name),
                                                 "reason": str(refusal)})
            UPLOADS_REFUSED.labels(reason="limit").inc()
            raise asyncssh.SFTPFailure(str(refusal)) from None
        except (OSError, CustodyError) as error:
            reason = error.reason if isinstance(error, CustodyError) else error.strerror
            # The operator's line names the payload and where it was going; the client's
            # answer only what went wrong.
            log.error("upload could not be stored", extra={**_fields(writer, name),
                                                           "error": str(error)})
            raise asyncssh.SFTPFailure(
                f"{name}: the gateway could not store this upload ({reason}); "
                "nothing was received, please upload it again") from None
        except Exception:
            log.exception("upload could not be recorded", extra=_fields(writer, name))
            raise asyncssh.SFTPFailure(
                f"{name}: the gateway could not record this upload (an internal error, "
                "logged for the operator); nothing was received, please upload it again"
            ) from None

    def _receive(self, writer: UploadWriter, name: str) -> int:
        received = False
        try:
            if writer.failure is not None:
                raise RefusedError(writer.failure)
            writer.check_complete()  # every queued byte is in the file after this
            # No fsync here: the custody makes the bytes durable its own way (the spool
            # fsyncs the file before its rename; a bucket has them once the PUT returns).
            sha256 = writer.sha256()
            upload_id, now = self._keep(writer, name, sha256)
            received = True
        finally:
            self.end(writer, received=received)
        self.receipts.add(writer.institution,
                          Entry(name, writer.size, now, upload_id, writer.folder))
        log.info("upload received", extra={"upload_id": upload_id, **_fields(writer, name),
                                           "size": writer.size, "sha256": sha256})
        warning = writer.allowance.warning()
        if warning:
            log.warning("pending bytes near the quota", extra={**_fields(writer, name),
                                                               "warning": warning})
        self.on_received()
        return upload_id

    def _keep(self, writer: UploadWriter, name: str, sha256: str) -> tuple[int, float]:
        """Put the upload's bytes, then commit the record naming them; returns the upload's
        id and the time it was recorded."""
        key = PayloadKey.received(secrets.token_hex(12))
        # Put before the record, outside the store's write lock (an S3 PUT takes a while):
        # a crash between the two leaves a payload no record names, which recovery sets
        # aside after its grace; a committed record always has its payload.
        self.custody.put(key, writer.path)
        try:
            with self.store.transaction() as txn:
                upload_id = txn.record_upload(writer.institution, name, writer.size, sha256,
                                              folder=writer.folder, payload=key.name)
        except Exception:
            recorded = self._recorded_anyway(writer, name, key)
            if recorded is None:
                raise
            return recorded.id, recorded.received_at
        return upload_id, txn.now

    def _recorded_anyway(self, writer: UploadWriter, name: str,
                         key: PayloadKey) -> UploadRecord | None:
        """After the record's transaction failed: the record, if its commit landed anyway
        (PostgreSQL may commit and then lose the connection before saying so).  Without
        one the payload is removed, unless the store cannot say: then it stays for
        recovery's orphan rule, since a committed record must always have its payload."""
        try:
            recorded = self.store.upload_by_payload(key.name)
        except Exception:
            log.exception("upload record uncertain; its payload is kept for recovery",
                          extra={**_fields(writer, name), "payload": key.name})
            return None
        if recorded is not None:
            log.warning("upload recorded although its commit reported an error",
                        extra={**_fields(writer, name), "upload_id": recorded.id})
            return recorded
        with contextlib.suppress(CustodyError):  # else recovery's orphan rule takes it
            self.custody.delete(key)
        return None

    async def discard(self, writer: UploadWriter, why: str) -> None:
        """Drop an upload that will not be received (``why`` is logged); never raises."""
        log.warning("upload discarded", extra={
            **_fields(writer, writer.name), "reason": why, "bytes_written": writer.size})
        with contextlib.suppress(Exception):
            await self.run(self.end, writer, received=False)

    async def discard_reported(self, writer: UploadWriter, why: str) -> None:
        """Drop an upload its sender believes delivered (a temp-named file closed and never
        renamed) and record that, so status.json and the next report tell the sender;
        never raises."""
        await self.discard(writer, why)
        try:
            await self.run(self._record_discard, writer, why)
        except Exception:
            log.exception("discard not recorded", extra=_fields(writer, writer.name))
            return
        try:
            await self.run(self.on_discarded, writer.institution)
        except Exception:  # status.json is rewritten with the next report anyway
            log.exception("discard recorded; status.json not rewritten",
                          extra=_fields(writer, writer.name))

    def _record_discard(self, writer: UploadWriter, why: str) -> None:
        with self.store.transaction() as txn:
            txn.record_discard(writer.institution, writer.name, folder=writer.folder,
                               size=writer.size, reason=why)

    def end(self, writer: UploadWriter, *, received: bool) -> None:
        """Release everything a writer holds (once); its temp file is gone afterwards.
        Blocking: call it on the receiving threads."""
        with self._lock:
            if writer not in self._open.get(writer.institution, ()):
                return
            self._open[writer.institution].discard(writer)
        self.in_flight.closed(writer)  # after the record: the sorters never see neither
        try:
            writer.disk.close()  # no queued write reaches the fd (or its reuse) after this
        finally:  # the file, its descriptor and its share of the quota go whatever happens
            with contextlib.suppress(OSError):
                os.close(writer.fd)
            writer.path.unlink(missing_ok=True)
            writer.allowance.settle(writer.size, received=received)

    # -- the receiving threads -------------------------------------------------------------

    async def run(self, work: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run blocking ``work`` on the receiving threads; shutdown waits for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.run_in_executor(
            self._executor, lambda: work(*args, **kwargs))
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return await future

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for running completions; True when none is left."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)
        return not self._running

    def close(self) -> None:
        """Stop the receiving threads (after :meth:`drain`)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._opener.shutdown(wait=False, cancel_futures=True)
        self._spooling.stop()
        self.in_flight.stop()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running this call (an SFTP request), or None (tools, tests)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _fields(writer: UploadWriter, name: str) -> dict[str, object]:
    """The log fields of a line about ``writer`` received as ``name``."""
    return {**writer.log_fields, "institution": writer.institution, "file": name,
            "folder": writer.folder}
