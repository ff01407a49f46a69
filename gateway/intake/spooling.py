"""An upload's bytes on their way to disk: written and hashed on worker threads, in order.

A fast upload's WRITE requests arrive in bursts (a client keeps up to a few MiB in flight);
writing each 32 KiB to the file and hashing it on the event loop cost the loop a fifth of its
time.  The loop now only queues the data: once per burst (the next loop iteration) one job on
the spooling threads writes every queued run with one ``pwritev`` and hashes it, releasing the
GIL for both, so another core does the work while the loop reads the next burst.

Contract: bytes are written in the order they were queued, by one job at a time, and never
after :meth:`DiskQueue.close`; :meth:`DiskQueue.settle` (blocking) returns only when
everything queued is in the file, and raises the first write error, which also stays in
:attr:`DiskQueue.error` for the loop to fail the upload with.  A queue holding more than
``QUEUE_LIMIT`` bytes makes the writer wait (:meth:`DiskQueue.backlog`), so a disk slower
than the network slows the client instead of filling memory.

Past ``JOB_FROM`` bytes, an upload written in order goes to its file past the page cache
(``O_DIRECT``, see :mod:`gateway.intake.direct_writes`); :meth:`DiskQueue.settle` leaves
the file in buffered mode, with every byte in it.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future

from gateway.intake.direct_writes import ALIGN, DirectStage

log = logging.getLogger(__name__)

QUEUE_LIMIT = 8 << 20
"""Bytes an upload may have queued before its client waits for the disk."""
WRITEBACK_STEP = 32 << 20
"""Start writing an upload's data to disk every this many bytes, so the fsync at close has
little left to do (the kernel would otherwise keep up to gigabytes dirty until then); for
bytes written through the page cache only (direct writes go to the disk as they are made)."""
JOB_BYTES = 4 << 20
"""Past ``JOB_FROM`` bytes, an upload's bytes go to the spooling threads in jobs of at least
this many: every job wakes a thread and passes the GIL back and forth (futex calls, context
switches on both sides), and a fast client's burst is one 256 KiB WRITE.  4 MiB against
1 MiB (with the direct writes' buffer alike), interleaved: 321.7 against 288.8 MB/s with
AES-GCM, 253.8 against 237.7 with chacha20 (0.5 and 0.25 s less CPU per GiB)."""
JOB_FROM = 8 << 20
"""Bytes an upload is handed over once per loop iteration before its jobs grow to
``JOB_BYTES``: small uploads (most of them, and thousands at once) hold no more in memory
than before; what a job has not taken yet is written by ``settle`` at close."""
MAX_VECTORS = 512
"""Buffers per ``pwritev`` (Linux takes at most 1024)."""


class Spooler:
    """The spooling threads: run jobs in the order they are put.  ``put`` costs the event
    loop one C-level queue append (a ThreadPoolExecutor's ``submit``, with its future and
    locks, cost the loop a tenth of its time at one job per burst)."""

    def __init__(self, threads: int) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"spooling_{number}",
                                          daemon=True) for number in range(threads)]
        self._stopped = False
        for thread in self._threads:
            thread.start()

    def put(self, job: Callable[[], None]) -> None:
        """Run ``job`` on a spooling thread; its errors are logged (jobs keep their own)."""
        if self._stopped:
            raise RuntimeError("the spooler has stopped")
        self._jobs.put(job)

    def submit(self, job: Callable[[], None]) -> Future[None]:
        """Run ``job`` on a spooling thread; the future says when it is done."""
        done: Future[None] = Future()

        def run() -> None:
            try:
                job()
            except BaseException as error:
                done.set_exception(error)
            else:
                done.set_result(None)

        self.put(run)
        return done

    def stop(self) -> None:
        """End the threads once the jobs already put are done (does not wait for them)."""
        self._stopped = True
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("spooling job failed")


class DiskQueue:
    """The bytes of one upload not yet in its file, and the SHA-256 of the stream.

    ``add`` is called on the event loop only; jobs run on ``spooler``.  With ``loop`` None
    (tools, tests) each ``add`` puts its job at once instead of once per loop iteration.
    """

    def __init__(self, fd: int, spooler: Spooler,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._fd = fd
        self._spooler = spooler
        self._loop = loop
        self._queue: deque[tuple[int, bytes, bool]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._added = 0  # bytes queued: counted on the loop only
        self._handed = 0  # bytes queued when the last job was scheduled: the loop's too
        self._written = 0  # bytes taken from the queue: counted by the jobs only
        self._closed = False
        self._sha: hashlib._Hash | None = hashlib.sha256()
        self._written_back = 0
        self._stage: DirectStage | None = None  # past JOB_FROM, in order: O_DIRECT
        self._stream_end = 0  # where the last run written ended
        self._direct_allowed = True  # until a run out of order or a refusal of O_DIRECT
        self.error: OSError | None = None
        """The first write error (set on a worker thread; the upload has failed)."""

    def add(self, offset: int, data: bytes, *, in_order: bool) -> None:
        """Queue ``data`` for ``offset``; ``in_order`` says it continues the stream the
        digest has seen (else the digest is dropped and the file is hashed at the end)."""
        self._queue.append((offset, data, in_order))
        self._added += len(data)
        if self._scheduled or JOB_FROM < self._added < self._handed + JOB_BYTES:
            return
        self._scheduled = True
        self._handed = self._added
        if self._loop is None:
            self._submit()
        else:
            self._loop.call_soon(self._submit)

    def backlog(self) -> Awaitable[None] | None:
        """None, or when over ``QUEUE_LIMIT`` something to await until the queue is written
        (the SFTP session reads no further request meanwhile)."""
        if self._added - self._written <= QUEUE_LIMIT:
            return None
        return asyncio.wrap_future(self._spooler.submit(self._job))

    def _submit(self) -> None:
        try:
            self._spooler.put(self._job)
        except RuntimeError:  # the intake is stopping: settle() or close() takes over
            self._scheduled = False

    def settle(self) -> None:
        """Write everything queued now, in this thread, with the file back to buffered
        I/O (what reads it next needs no alignment); raise the first write error."""
        self._job()
        with self._lock:
            try:
                self._leave_direct()  # after a failed write too: the descriptor buffered
            except OSError as error:
                if self.error is None:
                    self.error = error
        if self.error is not None:
            raise self.error

    def hexdigest(self) -> str | None:
        """The stream's SHA-256 after :meth:`settle`; None if it was not written in order."""
        with self._lock:
            return None if self._sha is None else self._sha.hexdigest()

    def close(self) -> None:
        """No job writes after this returns (the caller then closes the file)."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._stage = None  # its tail is not written: the upload is ending

    def _job(self) -> None:
        with self._lock:
            self._scheduled = False  # before taking: later adds schedule another job
            while self._queue and not self._closed:
                run = self._take_run()
                self._written += sum(len(data) for data in run[1])
                if self.error is None:
                    self._write(*run)

    def _take_run(self) -> tuple[int, list[bytes], bool]:
        """The longest contiguous run of queued writes at the head of the queue."""
        offset, data, in_order = self._queue.popleft()
        buffers, end = [data], offset + len(data)
        while self._queue and len(buffers) < MAX_VECTORS:
            following, more, ordered = self._queue[0]
            if following != end or ordered != in_order:
                break
            self._queue.popleft()
            buffers.append(more)
            end += len(more)
        return offset, buffers, in_order

    def _write(self, offset: int, buffers: list[bytes], in_order: bool) -> None:
        try:
            self._put(offset, buffers)
        except OSError as error:
            self.error = error
            return
        if self._sha is not None and in_order:
            for data in buffers:
                self._sha.update(data)
        else:
            self._sha = None
        end = offset + sum(len(data) for data in buffers)
        if self._stage is None and end - self._written_back >= WRITEBACK_STEP:
            # Start writing back without waiting, and drop the pages: nothing reads them soon.
            os.posix_fadvise(self._fd, self._written_back, end - self._written_back,
                             os.POSIX_FADV_DONTNEED)
            self._written_back = end

    def _put(self, offset: int, buffers: list[bytes]) -> None:
        """Write one run: staged for ``O_DIRECT`` while the upload streams in order past
        ``JOB_FROM`` (see :mod:`gateway.intake.direct_writes`), else through the page
        cache.  A run that does not continue the last one ends direct writing for good."""
        size = sum(len(data) for data in buffers)
        if offset != self._stream_end:
            self._direct_allowed = False
            self._leave_direct()
        self._stream_end = max(self._stream_end, offset + size)
        head = -offset % ALIGN  # written buffered, up to the next block boundary
        if self._stage is None and self._direct_allowed and offset >= JOB_FROM \
                and size > head:
            before, after = _split([memoryview(data) for data in buffers], head)
            _write_all(self._fd, before, offset)
            self._stage = DirectStage.start(self._fd, offset + head)
            if self._stage is None:  # no direct I/O here: buffered, as before
                self._direct_allowed = False
                _write_all(self._fd, after, offset + head)
                return
            self._stage_all(after)
        elif self._stage is not None:
            self._stage_all(buffers)
        else:
            _write_all(self._fd, buffers, offset)

    def _stage_all(self, buffers: Sequence[bytes | memoryview]) -> None:
        """Write a run through the stage: all but its unaligned tail is in the file when the
        job ends."""
        assert self._stage is not None
        self._stage.write(buffers)
        if not self._stage.direct:  # the file system refused a direct write
            self._direct_allowed = False
            self._leave_direct()

    def _leave_direct(self) -> None:
        """Write what the stage holds and go back to buffered I/O (the lock held)."""
        if self._stage is not None:
            stage, self._stage = self._stage, None
            stage.leave()


def _split(views: list[memoryview], at: int) -> tuple[list[memoryview], list[memoryview]]:
    """``views`` cut after their first ``at`` bytes."""
    before: list[memoryview] = []
    after: list[memoryview] = []
    for view in views:
        if at >= len(view):
            before.append(view)
            at -= len(view)
        elif at > 0:
            before.append(view[:at])
            after.append(view[at:])
            at = 0
        else:
            after.append(view)
    return before, after


def _write_all(fd: int, buffers: Sequence[bytes | memoryview], offset: int) -> None:
    """``pwritev`` all of ``buffers``: a short write (full disk, file size limit) is
    continued, and one that writes nothing is an error, never a silent truncation."""
    views = [memoryview(data) for data in buffers if data]
    while views:
        written = os.pwritev(fd, views, offset)
        if written <= 0:
            raise OSError(errno.ENOSPC, "no space left for the upload")
        offset += written
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
