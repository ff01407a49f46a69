"""UploadWriter: whole files only.  Short writes continue, a failed write fails the upload for
good, gaps and resumes are refused, and the running digest equals the file's.  Writes reach
the file on worker threads (DiskQueue): in order, and all of them once settled."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest

from gateway.intake.limits import Allowance
from gateway.intake.spooling import JOB_BYTES, JOB_FROM, QUEUE_LIMIT, DiskQueue, Spooler
from gateway.intake.uploads import Coverage, UploadWriter, file_digest


@pytest.fixture
def hashing() -> Iterator[Spooler]:
    spooler = Spooler(2)
    yield spooler
    spooler.stop()


@pytest.fixture
def writer(tmp_path: Path, hashing: Spooler) -> Iterator[UploadWriter]:
    path = tmp_path / "upload.part"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    yield UploadWriter(institution="alpha", name="users.csv", path=path, fd=fd,
                       max_bytes=1 << 30, allowance=Allowance(1 << 30),
                       disk=DiskQueue(fd, hashing))
    os.close(fd)


def test_coverage_merges_reordered_writes() -> None:
    coverage = Coverage()
    coverage.add(0, 10)
    coverage.add(20, 30)
    assert coverage.has_gaps
    assert coverage.high == 30
    coverage.add(10, 20)
    assert not coverage.has_gaps
    assert coverage.front == 30


def test_short_writes_are_continued(writer: UploadWriter,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.pwritev

    def short(fd: int, buffers: list[memoryview], offset: int) -> int:
        return real(fd, [buffers[0][:3]], offset)

    monkeypatch.setattr(os, "pwritev", short)
    writer.write(0, b"0123456789")
    writer.write(10, b"abc")
    writer.check_complete()
    monkeypatch.undo()
    assert writer.path.read_bytes() == b"0123456789abc"
    assert writer.sha256() == hashlib.sha256(b"0123456789abc").hexdigest()


def test_a_failed_write_fails_the_upload_for_good(writer: UploadWriter,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    writer.write(0, b"first")

    def full_disk(fd: int, buffers: list[memoryview], offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwritev", full_disk)
    writer.write(5, b"second")
    with pytest.raises(OSError, match="No space left"):
        writer.settle()
    monkeypatch.undo()
    with pytest.raises(asyncssh.SFTPFailure, match="could not write this upload"):
        writer.write(11, b"third")
    with pytest.raises(asyncssh.SFTPFailure, match="No space left"):
        writer.write(5, b"second")  # no later write can make it whole again
    assert writer.failure is not None


def test_a_write_that_makes_no_progress_is_an_error(writer: UploadWriter,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "pwritev", lambda fd, buffers, offset: 0)
    writer.write(0, b"data")
    with pytest.raises(OSError, match="no space left"):
        writer.check_complete()
    with pytest.raises(asyncssh.SFTPFailure):
        writer.write(4, b"more")


def test_resume_and_gaps_are_refused(writer: UploadWriter) -> None:
    with pytest.raises(asyncssh.SFTPFailure, match="resume is not supported"):
        writer.write(4096, b"tail")


def test_a_gap_left_at_close_is_found(writer: UploadWriter) -> None:
    writer.write(0, b"head")
    writer.write(100, b"tail")  # reordering within the window is allowed while writing
    with pytest.raises(OSError, match="gaps"):
        writer.check_complete()


def test_a_file_changed_behind_the_writer_is_found(writer: UploadWriter) -> None:
    writer.write(0, b"0123456789")
    writer.settle()
    os.truncate(writer.path, 4)
    with pytest.raises(OSError, match="4 bytes on disk but 10 written"):
        writer.check_complete()


def test_size_limit(writer: UploadWriter) -> None:
    writer.max_bytes = 8
    with pytest.raises(asyncssh.SFTPQuotaExceeded, match="max_file_bytes"):
        writer.write(0, b"0123456789")


def test_a_truncate_to_the_size_written_changes_nothing(writer: UploadWriter) -> None:
    writer.write(0, b"0123456789")
    writer.truncate(10)
    writer.write(10, b"more")
    writer.check_complete()
    assert writer.failure is None
    assert writer.sha256() == hashlib.sha256(b"0123456789more").hexdigest()


@pytest.mark.parametrize("size", [0, 4, 11])
def test_any_other_truncate_is_not_supported_and_fails_the_upload(writer: UploadWriter,
                                                                  size: int) -> None:
    writer.write(0, b"0123456789")
    with pytest.raises(asyncssh.SFTPOpUnsupported, match=r"/inbox/users\.csv: truncate"):
        writer.truncate(size)
    assert writer.failure is not None
    with pytest.raises(asyncssh.SFTPFailure, match="upload the whole file again"):
        writer.write(10, b"more")
    writer.settle()
    assert writer.path.read_bytes() == b"0123456789"  # nothing cut or padded


def test_seeking_an_upload_is_not_supported_and_it_goes_on(writer: UploadWriter) -> None:
    """asyncssh answers ranges@asyncssh.com by seeking the file object (SEEK_DATA)."""
    writer.write(0, b"0123456789")
    with pytest.raises(asyncssh.SFTPOpUnsupported, match=r"ranges@asyncssh\.com"):
        writer.seek(0, os.SEEK_DATA)
    assert writer.failure is None
    writer.write(10, b"more")


def test_digest_of_out_of_order_writes_is_taken_from_the_file(writer: UploadWriter) -> None:
    writer.write(0, b"aaaa")
    writer.write(8, b"cccc")
    writer.write(4, b"bbbb")
    writer.check_complete()
    assert writer.sha256() == hashlib.sha256(b"aaaabbbbcccc").hexdigest()
    assert file_digest(writer.path, "sha256") == writer.sha256()


def test_queued_writes_reach_the_file_in_order_and_the_digest_follows(
        tmp_path: Path, hashing: Spooler) -> None:
    path = tmp_path / "stream.part"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    disk = DiskQueue(fd, hashing)
    chunks = [os.urandom(32768) for _ in range(200)]
    offset = 0
    for chunk in chunks:
        disk.add(offset, chunk, in_order=True)
        offset += len(chunk)
    disk.settle()
    os.close(fd)
    assert path.read_bytes() == b"".join(chunks)
    assert disk.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_a_closed_queue_writes_nothing_more(tmp_path: Path) -> None:
    path = tmp_path / "closed.part"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    disk = DiskQueue(fd, Spooler(0))  # no thread: the jobs are ours to run
    disk._scheduled = True  # as if a job were on its way: add puts none
    disk.add(0, b"late", in_order=True)
    disk.close()
    disk.settle()
    os.close(fd)
    assert path.read_bytes() == b""


def test_a_lagging_disk_makes_the_writer_wait(tmp_path: Path,
                                              hashing: Spooler) -> None:
    fd = os.open(tmp_path / "lag.part", os.O_RDWR | os.O_CREAT, 0o600)
    disk = DiskQueue(fd, hashing)
    disk._scheduled = True  # no job runs until the backlog asks for one
    disk.add(0, bytes(QUEUE_LIMIT), in_order=True)
    assert disk.backlog() is None
    disk.add(QUEUE_LIMIT, b"x", in_order=True)

    async def wait() -> None:
        backlog = disk.backlog()
        assert backlog is not None
        await backlog

    asyncio.run(wait())
    assert disk.backlog() is None
    assert os.fstat(fd).st_size == QUEUE_LIMIT + 1
    os.close(fd)


class CountingSpooler(Spooler):
    """A spooler without threads that counts the jobs put and runs them when told."""

    def __init__(self) -> None:
        super().__init__(0)
        self.jobs: list[Callable[[], None]] = []

    def put(self, job: Callable[[], None]) -> None:
        self.jobs.append(job)

    def run(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()


def test_a_large_upload_is_handed_over_in_larger_jobs(tmp_path: Path) -> None:
    """Up to JOB_FROM, every add puts a job (here: no loop, so at once); past it, one job per
    JOB_BYTES; settle writes whatever no job took, and the file and digest are whole."""
    path = tmp_path / "large.part"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    spooler = CountingSpooler()
    disk = DiskQueue(fd, spooler)
    piece, offset, sha = bytes(range(256)) * 1024, 0, hashlib.sha256()
    for _ in range(JOB_FROM // len(piece)):
        disk.add(offset, piece, in_order=True)
        offset += len(piece)
        sha.update(piece)
        spooler.run()
    later = 0
    for _ in range(4 * JOB_BYTES // len(piece) + 1):
        disk.add(offset, piece, in_order=True)
        offset += len(piece)
        sha.update(piece)
        later += len(spooler.jobs)
        spooler.run()
    assert later == 4  # one job per JOB_BYTES past JOB_FROM, not one per add
    assert os.fstat(fd).st_size < offset  # the last piece waits for a job or settle
    disk.settle()
    os.close(fd)
    assert path.stat().st_size == offset
    assert disk.hexdigest() == sha.hexdigest() == file_digest(path, "sha256")
