"""Taking custody of uploaded bytes: temp file while writing, durable upload on clean close.

An upload is written to ``spool/incoming`` under a random name.  Only when the client closes
it cleanly does :meth:`Receiver.complete` flush it, move it to ``spool/uploads/<id>``, record
it RECEIVED in the store and link it into the institution's inbox so the client can see it.
A session that ends without a clean close calls :meth:`Receiver.discard` instead, and recovery
removes anything left in ``incoming`` after a crash: half-written data is never received.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.state.spool import Spool, fsync_directory, publish_file, temp_path_for
from gateway.state.store import Store

log = logging.getLogger(__name__)


@dataclass
class UploadWriter:
    """An upload being written.  Not thread-safe: one SFTP handle owns it."""

    institution: str
    filename: str
    path: Path
    fd: int
    size: int = 0
    _digest: hashlib._Hash | None = field(default_factory=hashlib.sha256)

    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (clients may pipeline writes out of order)."""
        os.pwrite(self.fd, data, offset)
        if self._digest is not None and offset == self.size:
            self._digest.update(data)
        else:
            # Out-of-order or overlapping writes: hash the finished file instead.
            self._digest = None
        self.size = max(self.size, offset + len(data))

    def sha256(self) -> str:
        """The SHA-256 of the bytes written, reading the file back if writes were not linear."""
        if self._digest is not None:
            return self._digest.hexdigest()
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()


class Receiver:
    """Turns cleanly closed SFTP uploads into RECEIVED uploads.  Safe from many threads."""

    def __init__(self, store: Store, spool: Spool, on_received: Callable[[], None]) -> None:
        self._store = store
        self._spool = spool
        self._on_received = on_received

    def begin(self, institution: str, filename: str) -> UploadWriter:
        """Open a fresh temp file for an upload of ``filename`` by ``institution``."""
        path = self._spool.incoming / f"{institution}.{secrets.token_hex(8)}.part"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return UploadWriter(institution=institution, filename=filename, path=path, fd=fd)

    def complete(self, writer: UploadWriter) -> int:
        """Make the upload durable and RECEIVED; return its id.

        When this returns, the bytes and the record survive any crash: the SFTP close is
        acknowledged only after it.  On error the temp file is removed and nothing is received.
        """
        try:
            os.fsync(writer.fd)
            os.close(writer.fd)
            sha256 = writer.sha256()
            with self._store.transaction() as txn:
                upload_id = txn.record_upload(
                    writer.institution, writer.filename, writer.size, sha256
                )
                # Published inside the transaction: if the commit fails, the file is an
                # orphan that recovery quarantines; a committed record always has its file.
                final = self._spool.upload_path(upload_id)
                publish_file(writer.path, final)
        except BaseException:
            writer.path.unlink(missing_ok=True)
            raise
        self._show_in_inbox(final, writer.institution, writer.filename)
        log.info("upload received", extra={"upload_id": upload_id,
                                           "institution": writer.institution,
                                           "file": writer.filename, "size": writer.size})
        self._on_received()
        return upload_id

    def discard(self, writer: UploadWriter) -> None:
        """Drop an upload that was not closed cleanly; nothing is received."""
        with contextlib.suppress(OSError):
            os.close(writer.fd)
        writer.path.unlink(missing_ok=True)
        log.warning("incomplete upload discarded", extra={
            "institution": writer.institution, "file": writer.filename,
            "bytes_written": writer.size})

    def _show_in_inbox(self, final: Path, institution: str, filename: str) -> None:
        """Link the received file into the inbox so clients can stat and list it.

        The link is a view only (the spool copy is authoritative and the SFTP layer never
        writes through it); the sorter removes it once the upload joins a batch.
        """
        visible = self._spool.inbox(institution) / filename
        temp = temp_path_for(visible)
        try:
            os.link(final, temp)
            os.replace(temp, visible)
            fsync_directory(visible.parent)
        except OSError as error:
            temp.unlink(missing_ok=True)
            log.warning("could not show upload in inbox: %s", error.strerror)
