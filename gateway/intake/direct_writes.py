"""A large upload's bytes written to its file past the page cache (``O_DIRECT``).

Written through the page cache, every byte of an upload is copied by the kernel into a new
page-cache page, which the spooling then drops (nothing reads the file again soon): on this
project's virtual machine that copy was the largest cost of an upload, 1.9 to 3 s of system
CPU per GiB (``copy_folio_from_iter_atomic`` in perf), against 0.1 s for the same GiB
written ``O_DIRECT`` from a reused buffer, plus 0.1 s to copy it there.  So once an upload
is past its first ``JOB_FROM`` bytes and written in order, its bytes are gathered in an
aligned buffer (:class:`DirectStage`) and written from there in whole blocks, the file
descriptor switched to ``O_DIRECT`` meanwhile; small uploads, and any upload written out of
order, stay in the page cache as before.

Contract: every byte added to a stage is in the file, at its offset, once the stage's
:meth:`~DirectStage.leave` returns, and the descriptor is then back to buffered I/O (what
reads the file afterwards needs no alignment); bytes before the stage's start were written
by the caller (buffered).  A file system that refuses ``O_DIRECT`` (at ``fcntl`` or at a
write) gets buffered writes of the same bytes, never a lost byte; other write errors are
raised, as buffered ones are.  The fsync at the upload's close is still what makes it
durable: ``O_DIRECT`` only skips the cache.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os

ALIGN = 4096
"""Offsets, lengths and the buffer of a direct write are multiples of this: the page size,
and a multiple of every disk's logical block size."""
STAGE_BYTES = 4 << 20
"""The aligned buffer of one upload: one direct write each time it fills (a spooling job's
size, ``JOB_BYTES``)."""
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


class DirectStage:
    """An upload's stream from ``offset`` (aligned) on, written in whole blocks with
    ``O_DIRECT``; the unaligned tail waits here for more bytes or for :meth:`leave`.

    Not thread-safe: the caller (a :class:`~gateway.intake.spooling.DiskQueue` job, under
    its lock) serialises every call.
    """

    def __init__(self, fd: int, offset: int) -> None:
        if offset % ALIGN:
            raise ValueError(f"a direct stage starts at a block boundary, not {offset}")
        self._fd = fd
        self._offset = offset  # the file offset of the buffer's first byte
        self._filled = 0
        self._buffer: mmap.mmap | None = mmap.mmap(-1, STAGE_BYTES)  # page-aligned
        self.direct = True
        """False once the file system refused a direct write: everything then goes
        buffered (this stage stays correct, only slower)."""

    @classmethod
    def start(cls, fd: int, offset: int) -> DirectStage | None:
        """Switch ``fd`` to ``O_DIRECT`` and stage from ``offset``; None (and ``fd`` left
        as it was) where the platform or the file system does not do direct I/O."""
        if not _O_DIRECT:
            return None
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
        except OSError:
            return None
        return cls(fd, offset)

    @property
    def end(self) -> int:
        """The file offset the next added byte goes to."""
        return self._offset + self._filled

    def add(self, data: memoryview) -> None:
        """Append ``data`` (it continues the stream at :attr:`end`), writing each full
        buffer; raises OSError on a write error (never a partial silent write)."""
        buffer = self._live()
        while data:
            take = min(STAGE_BYTES - self._filled, len(data))
            buffer[self._filled:self._filled + take] = data[:take]
            self._filled += take
            data = data[take:]
            if self._filled == STAGE_BYTES:
                self.write_blocks()

    def write_blocks(self) -> None:
        """Write the buffer's whole blocks; keep what is left (under one block) at its
        front."""
        whole = self._filled - self._filled % ALIGN
        if not whole:
            return
        buffer = self._live()
        with memoryview(buffer) as view:
            self._write(view[:whole], self._offset)
        rest = self._filled - whole
        if rest:
            buffer.move(0, whole, rest)
        self._offset += whole
        self._filled = rest

    def leave(self) -> None:
        """Write everything staged (whole blocks direct, the tail buffered), put ``fd``
        back to buffered I/O and free the buffer."""
        if self._buffer is None:
            return
        self.write_blocks()
        self._buffered()
        if self._filled:
            with memoryview(self._buffer) as view:
                _pwrite_all(self._fd, view[:self._filled], self._offset)
            self._offset += self._filled
            self._filled = 0
        self.release()

    def release(self) -> None:
        """Free the buffer without writing (the upload is being discarded)."""
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None

    def _write(self, view: memoryview, offset: int) -> None:
        if self.direct:
            try:
                _pwrite_all(self._fd, view, offset)
                return
            except OSError as error:
                if error.errno != errno.EINVAL:
                    raise
                # The file system takes O_DIRECT at fcntl but not these writes (an
                # alignment it wants larger): the same bytes, buffered, from now on.
                self.direct = False
                self._buffered()
        _pwrite_all(self._fd, view, offset)

    def _buffered(self) -> None:
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        if flags & _O_DIRECT:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~_O_DIRECT)

    def _live(self) -> mmap.mmap:
        if self._buffer is None:
            raise RuntimeError("the direct stage was left")
        return self._buffer


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    """``pwrite`` all of ``view`` at ``offset``; a write that makes no progress is ENOSPC."""
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(errno.ENOSPC, "no space left for the upload")
        offset += written
        view = view[written:]
