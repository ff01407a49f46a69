"""An upload being written: its temp file, which bytes have arrived, its running digest, and
the first error it met.

Contract: an UploadWriter either holds exactly the bytes the client sent, with no gap and no
short write, or it is *failed* and can never be received (the receiver discards it at close
and the client is told).  Writes must start at offset 0 and stay near the written front:
resuming or appending to an earlier upload is refused, because a received file must be one
whole, cleanly closed transfer.  Writing is all an upload does: it cannot be read back,
and a truncate that would change its size is refused and fails it (see :meth:`truncate`).
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import asyncssh

from gateway.intake.places import inbox_display
from gateway.intake.spooling import DiskQueue
from gateway.state.custody import Custody, upload_key
from gateway.state.records import UploadRecord

if TYPE_CHECKING:
    from gateway.intake.limits import Allowance

RESUME_REFUSED = "resume is not supported; upload the whole file"
WRITE_ONLY = "uploads cannot be read back; reports are in /reports"
REORDER_WINDOW = 64 << 20
"""How far ahead of the contiguous front a pipelined write may land (clients keep at most a
few MiB in flight); anything further is a gap, not reordering."""
MAX_ISLANDS = 4096


class Coverage:
    """Which byte ranges of a file have been written: a contiguous prefix plus islands."""

    def __init__(self) -> None:
        self.front = 0
        self._islands: list[tuple[int, int]] = []

    @property
    def has_gaps(self) -> bool:
        """True while some byte below the highest one written has never been written."""
        return bool(self._islands)

    @property
    def high(self) -> int:
        """One past the highest byte written."""
        return max(self.front, self._islands[-1][1] if self._islands else 0)

    def add(self, start: int, stop: int) -> None:
        """Record that bytes ``start`` to ``stop`` (exclusive) were written."""
        if start > self.front:
            bisect.insort(self._islands, (start, stop))
            return
        self.front = max(self.front, stop)
        while self._islands and self._islands[0][0] <= self.front:
            self.front = max(self.front, self._islands.pop(0)[1])

    @property
    def island_count(self) -> int:
        """How many separate ranges lie beyond the front."""
        return len(self._islands)


@dataclass(eq=False)  # identity: writers are tracked in sets
class UploadWriter:
    """An upload being written.  Not thread-safe: one SFTP handle owns it, on the event loop;
    its bytes go to the file through ``disk`` (written and hashed on worker threads), and
    :meth:`settle` (blocking) puts them all in the file before anything reads it.

    ``name`` is the name the client opened; a temp-named upload is received later under the
    name it is renamed to, always in the same upload ``folder`` (None: /inbox itself).
    ``log_fields`` are its connection's log fields (session, peer ...), for the lines about it.
    """

    institution: str
    name: str
    path: Path
    fd: int
    max_bytes: int
    allowance: Allowance
    disk: DiskQueue
    folder: str | None = None
    coverage: Coverage = field(default_factory=Coverage)
    failure: str | None = None
    log_fields: Mapping[str, object] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes the file spans so far."""
        return self.coverage.high

    @property
    def display(self) -> str:
        """The upload's path as the client writes it."""
        return inbox_display(self.folder, self.name)

    def write(self, offset: int, data: bytes) -> Awaitable[None] | None:
        """Queue ``data`` for ``offset``; raise an SFTP error (and fail the upload) on any
        refusal or on an earlier write's I/O error, so nothing half-written can later be
        received.  Returns something to await before the next request when the disk lags
        (see :meth:`DiskQueue.backlog`)."""
        if self.failure is not None:
            raise asyncssh.SFTPFailure(self.failure)
        if self.disk.error is not None:
            self.fail(f"{self.name}: the gateway could not write this upload "
                      f"({self.disk.error.strerror}); nothing will be received from it, "
                      "upload the whole file again")
        stop = offset + len(data)
        self._check_place(offset, stop)
        self._check_limits(stop)
        # Out of order or rewritten: the digest is dropped and the finished file hashed.
        self.disk.add(offset, data, in_order=offset == self.coverage.front)
        self.coverage.add(offset, stop)
        return self.disk.backlog()

    def settle(self) -> None:
        """Put every byte written so far into the file (blocking; off the event loop);
        raise OSError if one could not be written."""
        self.disk.settle()

    def flush(self) -> None:
        """Settle, then fsync the file (blocking)."""
        self.settle()
        os.fsync(self.fd)

    def truncate(self, size: int) -> None:
        """Answer a client's truncate (a size in FSETSTAT): one to the current size changes
        nothing and is accepted; any other raises SFTPOpUnsupported and fails the upload.

        The bytes cannot be cut or padded (the digest is taken as they stream in, and a
        received file is exactly what was written), and a client that asked for another
        size meant other contents, so these must not be received either."""
        if size != self.size:
            self.fail(f"{self.display}: truncate (to {size} bytes; {self.size} written) is "
                      "not supported, so nothing will be received from this upload; upload "
                      "the whole file again without truncating it",
                      error=asyncssh.SFTPOpUnsupported)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Refuse: asyncssh answers its ``ranges@asyncssh.com`` request (which ranges of a
        file hold data) by seeking the open file object with SEEK_DATA and SEEK_HOLE, and
        an upload cannot be read back.  The upload itself goes on."""
        raise asyncssh.SFTPOpUnsupported(
            f"{self.display}: ranges@asyncssh.com is not supported: {WRITE_ONLY}")

    def _check_place(self, offset: int, stop: int) -> None:
        if offset > self.coverage.front and self.coverage.high == 0:
            self.fail(f"{self.name}: the first write starts at byte {offset}; {RESUME_REFUSED}")
        if offset > self.coverage.front + REORDER_WINDOW:
            self.fail(f"{self.name}: write at byte {offset} leaves a gap after byte "
                      f"{self.coverage.front}; {RESUME_REFUSED}")
        if self.coverage.island_count >= MAX_ISLANDS and offset > self.coverage.front:
            self.fail(f"{self.name}: writes are too scattered; upload the file in order")

    def _check_limits(self, stop: int) -> None:
        if stop > self.max_bytes:
            self.fail(f"{self.name}: larger than the {self.max_bytes} bytes allowed per "
                      "file; split it, or ask the gateway operator to raise max_file_bytes",
                      error=asyncssh.SFTPQuotaExceeded)
        growth = stop - self.coverage.high
        if growth > 0:
            refusal = self.allowance.claim(growth)
            if refusal is not None:
                self.fail(f"{self.name}: {refusal}", error=asyncssh.SFTPQuotaExceeded)

    def fail(self, reason: str, *,
             error: Callable[[str], asyncssh.SFTPError] = asyncssh.SFTPFailure) -> NoReturn:
        """Mark the upload failed for ``reason`` and raise ``error`` telling the client."""
        self.failure = reason
        raise error(reason)

    def check_complete(self) -> None:
        """Raise OSError unless the file holds exactly the written bytes with no gap (run
        before receiving, off the event loop; a failed writer is refused by the caller
        first)."""
        self.settle()
        if self.coverage.has_gaps:
            raise OSError(errno.EIO, f"the upload has gaps after byte {self.coverage.front}; "
                                     f"{RESUME_REFUSED}")
        on_disk = os.fstat(self.fd).st_size
        if on_disk != self.coverage.front:
            raise OSError(errno.EIO, f"{on_disk} bytes on disk but {self.coverage.front} "
                                     "written")

    def sha256(self) -> str:
        """The SHA-256 of the bytes written (after :meth:`check_complete`), reading the file
        back if writes were not linear."""
        digest = self.disk.hexdigest()
        return digest if digest is not None else file_digest(self.path, "sha256")


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a whole file (blocking; run it off the event loop)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def payload_digest(custody: Custody, upload: UploadRecord, algorithm: str) -> str:
    """The hex digest of a received upload's bytes, streamed from the custody (blocking:
    run it off the event loop)."""
    digest = hashlib.new(algorithm)
    for chunk in custody.stream(upload_key(upload)):
        digest.update(chunk)
    return digest.hexdigest()
