"""UploadWriter: whole files only.  Short writes continue, a failed write fails the upload for
good, gaps and resumes are refused, and the running digest equals the file's."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncssh
import pytest

from gateway.intake.limits import Allowance
from gateway.intake.uploads import Coverage, RunningDigest, UploadWriter, file_digest


@pytest.fixture
def hashing() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


@pytest.fixture
def writer(tmp_path: Path, hashing: ThreadPoolExecutor) -> Iterator[UploadWriter]:
    path = tmp_path / "upload.part"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    yield UploadWriter(institution="alpha", name="users.csv", path=path, fd=fd,
                       max_bytes=1 << 30, allowance=Allowance(1 << 30),
                       digest=RunningDigest(hashing))
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
    real = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: real(fd, data[:3], offset))
    writer.write(0, b"0123456789")
    monkeypatch.undo()
    writer.check_complete()
    assert writer.path.read_bytes() == b"0123456789"
    assert writer.sha256() == hashlib.sha256(b"0123456789").hexdigest()


def test_a_failed_write_fails_the_upload_for_good(writer: UploadWriter,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    writer.write(0, b"first")

    def full_disk(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full_disk)
    with pytest.raises(asyncssh.SFTPFailure, match="could not write this upload"):
        writer.write(5, b"second")
    monkeypatch.undo()
    with pytest.raises(asyncssh.SFTPFailure, match="No space left"):
        writer.write(5, b"second")  # no later write can make it whole again
    assert writer.failure is not None


def test_a_write_that_makes_no_progress_is_an_error(writer: UploadWriter,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: 0)
    with pytest.raises(asyncssh.SFTPFailure):
        writer.write(0, b"data")


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


def test_running_digest_keeps_order_across_threads(hashing: ThreadPoolExecutor) -> None:
    digest = RunningDigest(hashing)
    chunks = [os.urandom(32768) for _ in range(200)]
    for chunk in chunks:
        digest.feed(chunk)
    assert digest.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()
