"""A large upload's bytes written to its file past the page cache (``O_DIRECT``).

Written through the page cache, every byte of an upload is copied by the kernel into a new
page-cache page, which the spooling then drops (nothing reads the file again soon): on this
project's virtual machine that copy was the largest cost of an upload, 1.9 to 3 s of system
CPU per GiB (``copy_folio_from_iter_atomic`` in perf), against 0.1 s for the same GiB
written ``O_DIRECT`` from a reused buffer, plus 0.1 s to copy it there.  So once an upload
is past its first ``JOB_FROM`` bytes and written in order, each spooling job gathers its
bytes in an aligned buffer and writes them in whole blocks, the file descriptor switched to
``O_DIRECT`` meanwhile; small uploads, and any upload written out of order, stay in the
page cache as before.

The aligned buffer belongs to the thread running the job (one per spooling thread, and one
per thread that settles an upload), not to the upload: between jobs an upload keeps only
its unaligned tail, under one block, so thousands of large uploads at once hold no more
memory than before.

Contract: every byte given to a :class:`DirectStage` is in the file, at its offset, once
:meth:`~DirectStage.leave` returns, and the descriptor is then back to buffered I/O (what
reads the file afterwards needs no alignment); bytes before the stage's start were written
by the caller (buffered).  A file system that refuses
``O_DIRECT`` (at ``fcntl`` or at a write) gets buffered writes of the same bytes, never a
lost byte; other write errors are raised, as buffered ones are.  The fsync at the upload's
close is still what makes it durable: ``O_DIRECT`` only bypasses the page cache.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading
from collections.abc import Sequence

ALIGN = 4096
"""Offsets, lengths and the buffer of a direct write are multiples of this: the page size,
and a multiple of every disk's logical block size."""
BUFFER_BYTES = 4 << 20
"""A thread's aligned buffer: the most one direct write carries."""
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)
_buffers = threading.local()


def _thread_buffer() -> mmap.mmap:
    """This thread's aligned buffer (an anonymous mapping is page-aligned), made once."""
    buffer: mmap.mmap | None = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = mmap.mmap(-1, BUFFER_BYTES)
    return buffer


class DirectStage:
    """An upload's stream from ``offset`` (aligned) on, written in whole blocks with
    ``O_DIRECT``; the unaligned tail waits here for the next run or for :meth:`leave`.

    Not thread-safe: the caller (a :class:`~gateway.intake.spooling.DiskQueue` job, under
    its lock) serialises every call.
    """

    def __init__(self, fd: int, offset: int) -> None:
        if offset % ALIGN:
            raise ValueError(f"a direct stage starts at a block boundary, not {offset}")
        self._fd = fd
        self._offset = offset  # the file offset of the tail's first byte
        self._tail = b""  # under one block: what the last run left unwritten
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
        """The file offset the next byte goes to."""
        return self._offset + len(self._tail)

    def write(self, buffers: Sequence[bytes | memoryview]) -> None:
        """Write a run that continues the stream at :attr:`end`: its whole blocks (with
        the tail before it) now, the unaligned rest kept as the new tail; raises OSError on
        a write error (never a partial silent write)."""
        buffer = _thread_buffer()
        filled = len(self._tail)
        buffer[:filled] = self._tail
        for data in buffers:
            with memoryview(data) as view:
                taken = 0
                while taken < len(view):
                    take = min(BUFFER_BYTES - filled, len(view) - taken)
                    buffer[filled:filled + take] = view[taken:taken + take]
                    filled += take
                    taken += take
                    if filled == BUFFER_BYTES:
                        filled = self._write_blocks(buffer, filled)
        filled = self._write_blocks(buffer, filled)
        self._tail = buffer[:filled]

    def leave(self) -> None:
        """Put ``fd`` back to buffered I/O, then write the tail (buffered)."""
        tail, self._tail = self._tail, b""
        self._buffered()
        _pwrite_all(self._fd, tail, self._offset)
        self._offset += len(tail)

    def _write_blocks(self, buffer: mmap.mmap, filled: int) -> int:
        """Write ``buffer``'s whole blocks at the stage's offset, move what is left (under
        one block) to its front, and return how much that is."""
        whole = filled - filled % ALIGN
        if whole:
            with memoryview(buffer) as view, view[:whole] as blocks:
                self._write(blocks)
            self._offset += whole
            buffer.move(0, whole, filled - whole)
        return filled - whole

    def _write(self, blocks: memoryview) -> None:
        if self.direct:
            try:
                _pwrite_all(self._fd, blocks, self._offset)
                return
            except OSError as error:
                if error.errno != errno.EINVAL:
                    raise
                # The file system takes O_DIRECT at fcntl but not these writes (an
                # alignment it wants larger): the same bytes, buffered, from now on.
                self.direct = False
                self._buffered()
        _pwrite_all(self._fd, blocks, self._offset)

    def _buffered(self) -> None:
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        if flags & _O_DIRECT:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~_O_DIRECT)


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """``pwrite`` all of ``data`` at ``offset``; a write that makes no progress is ENOSPC."""
    with memoryview(data) as whole:
        done = 0
        while done < len(whole):
            with whole[done:] as rest:
                written = os.pwrite(fd, rest, offset + done)
            if written <= 0:
                raise OSError(errno.ENOSPC, "no space left for the upload")
            done += written
