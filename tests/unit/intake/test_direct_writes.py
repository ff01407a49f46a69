"""A large upload written in order goes past the page cache (O_DIRECT) once past JOB_FROM,
with every byte in the file at its offset, the digest whole, and the descriptor buffered
again once settled; unaligned pieces, out-of-order writes, a client's fsync mid-upload, a
close with bytes staged, and file systems that refuse direct I/O lose nothing."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.intake.direct_writes import ALIGN, BUFFER_BYTES, DirectStage
from gateway.intake.spooling import JOB_FROM, DiskQueue, Spooler
from gateway.intake.uploads import file_digest


class Upload:
    """A file, its queue, and what was written to it (the expected bytes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        self.disk = DiskQueue(self.fd, Spooler(0))  # no thread: the jobs are ours
        self.expected = bytearray()

    def write(self, offset: int, data: bytes) -> None:
        in_order = offset == len(self.expected)
        self.disk.add(offset, data, in_order=in_order)
        if len(self.expected) < offset + len(data):
            self.expected.extend(bytes(offset + len(data) - len(self.expected)))
        self.expected[offset:offset + len(data)] = data
        self.disk._job()  # as a spooling thread would: one job per write, to see each

    def append(self, data: bytes) -> None:
        self.write(len(self.expected), data)

    @property
    def direct(self) -> bool:
        return bool(fcntl.fcntl(self.fd, fcntl.F_GETFL) & os.O_DIRECT)

    def settle_and_check(self, *, digest_kept: bool = True) -> None:
        self.disk.settle()
        assert not self.direct  # what reads the file next needs no alignment
        os.fsync(self.fd)
        assert self.path.read_bytes() == bytes(self.expected)
        whole = hashlib.sha256(self.expected).hexdigest()
        assert self.disk.hexdigest() == (whole if digest_kept else None)
        assert file_digest(self.path, "sha256") == whole


@pytest.fixture
def upload(tmp_path: Path) -> Iterator[Upload]:
    made = Upload(tmp_path / "upload.part")
    yield made
    os.close(made.fd)


def _random_bytes(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def test_an_in_order_upload_goes_direct_past_job_from(upload: Upload) -> None:
    rng = random.Random(1)
    while len(upload.expected) < JOB_FROM:
        upload.append(_random_bytes(rng, 256 << 10))
        assert not upload.direct  # small uploads and the first JOB_FROM bytes: page cache
    for _ in range(12):
        upload.append(_random_bytes(rng, 256 << 10))
        assert upload.direct
    # Everything but an unaligned tail is in the file when a job ends.
    assert os.fstat(upload.fd).st_size >= len(upload.expected) - ALIGN
    upload.settle_and_check()


def test_unaligned_pieces_across_job_from_and_the_stage(upload: Upload) -> None:
    rng = random.Random(2)
    sizes = [1, 4095, 4097, 32_768 + 7, 255, BUFFER_BYTES + 3, 100_000]
    while len(upload.expected) < JOB_FROM + 3 * BUFFER_BYTES:
        upload.append(_random_bytes(rng, rng.choice(sizes)))
    assert upload.direct
    upload.append(b"the last line, no newline")
    upload.settle_and_check()


def test_a_piece_too_small_to_reach_a_block_boundary_waits_for_the_next(
        upload: Upload) -> None:
    rng = random.Random(3)
    upload.append(_random_bytes(rng, JOB_FROM + 10))
    upload.append(b"x" * 20)  # starts unaligned, ends before the next boundary
    assert not upload.direct
    upload.append(_random_bytes(rng, 3 * ALIGN))
    assert upload.direct
    upload.settle_and_check()


def test_an_out_of_order_write_ends_direct_writing_and_loses_nothing(upload: Upload) -> None:
    rng = random.Random(4)
    upload.append(_random_bytes(rng, JOB_FROM))
    upload.append(_random_bytes(rng, BUFFER_BYTES + 123))
    assert upload.direct
    upload.write(JOB_FROM + 5000, b"rewritten in place")  # behind the front
    assert not upload.direct
    upload.append(_random_bytes(rng, 2 * BUFFER_BYTES))
    assert not upload.direct  # for good
    upload.settle_and_check(digest_kept=False)


def test_a_client_fsync_mid_upload_then_more(upload: Upload) -> None:
    rng = random.Random(5)
    upload.append(_random_bytes(rng, JOB_FROM))
    upload.append(_random_bytes(rng, BUFFER_BYTES + 777))
    assert upload.direct
    upload.disk.settle()  # the client's FSYNC: all in the file, buffered again
    assert not upload.direct
    assert os.fstat(upload.fd).st_size == len(upload.expected)
    upload.append(_random_bytes(rng, 2 * BUFFER_BYTES + 5))
    assert upload.direct  # in order still: back past the page cache
    upload.settle_and_check()


def test_a_closed_queue_frees_its_stage_and_writes_nothing_more(upload: Upload) -> None:
    rng = random.Random(6)
    upload.append(_random_bytes(rng, JOB_FROM))
    upload.append(_random_bytes(rng, BUFFER_BYTES + 99))
    assert upload.disk._stage is not None
    size = os.fstat(upload.fd).st_size
    upload.disk.close()
    assert upload.disk._stage is None
    upload.disk.add(len(upload.expected), b"late", in_order=True)
    upload.disk._job()
    upload.disk.settle()
    assert os.fstat(upload.fd).st_size == size


def test_a_file_system_refusing_o_direct_at_fcntl_gets_buffered_writes(
        upload: Upload, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fcntl = fcntl.fcntl

    def refusing(fd: int, command: int, arg: int = 0) -> int:
        if command == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fcntl(fd, command, arg)

    monkeypatch.setattr(fcntl, "fcntl", refusing)
    rng = random.Random(7)
    upload.append(_random_bytes(rng, JOB_FROM + 3 * BUFFER_BYTES))
    assert upload.disk._stage is None
    upload.append(_random_bytes(rng, BUFFER_BYTES))
    upload.settle_and_check()


def test_a_file_system_refusing_direct_writes_gets_the_same_bytes_buffered(
        upload: Upload, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some file systems take O_DIRECT at fcntl and refuse the writes (EINVAL: they want
    a larger alignment): the refused bytes are written buffered, and so is the rest."""
    real_pwrite = os.pwrite
    refused = []

    def refusing(fd: int, data: memoryview, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", refusing)
    rng = random.Random(8)
    upload.append(_random_bytes(rng, JOB_FROM))
    upload.append(_random_bytes(rng, 2 * BUFFER_BYTES + 11))
    assert refused
    assert upload.disk._stage is None
    assert not upload.direct
    upload.append(_random_bytes(rng, BUFFER_BYTES))
    assert len(refused) == 1
    upload.settle_and_check()


def test_a_write_error_while_direct_fails_the_upload(
        upload: Upload, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: memoryview, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    rng = random.Random(9)
    upload.append(_random_bytes(rng, JOB_FROM))
    real_pwrite = os.pwrite
    monkeypatch.setattr(os, "pwrite", full)
    upload.append(_random_bytes(rng, 2 * BUFFER_BYTES))
    assert upload.disk.error is not None
    assert upload.disk.error.errno == errno.ENOSPC
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    with pytest.raises(OSError, match="No space"):
        upload.disk.settle()
    assert not upload.direct  # buffered again, failed or not
    upload.disk.close()  # the upload ends: nothing holds on, nothing raises


def test_large_uploads_hold_only_their_tails_between_jobs(tmp_path: Path) -> None:
    """The aligned buffer is the thread's: between jobs an upload keeps under one block."""
    uploads = [Upload(tmp_path / f"u{number}.part") for number in range(3)]
    rng = random.Random(10)
    for upload in uploads:
        upload.append(_random_bytes(rng, JOB_FROM))
        upload.append(_random_bytes(rng, BUFFER_BYTES + 1234))
    for upload in uploads:
        stage = upload.disk._stage
        assert stage is not None
        assert len(stage._tail) < ALIGN
        assert upload.direct
    for upload in uploads:
        upload.settle_and_check()
        os.close(upload.fd)


def test_a_stage_starts_only_at_a_block_boundary(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with pytest.raises(ValueError, match="block boundary"):
            DirectStage(fd, 100)
    finally:
        os.close(fd)
