"""Requests the gateway does not support are answered "not supported", saying what to do:
never an uncaught exception, never an OK that quietly ignores the request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncssh
import pytest

from tests.integration.gateway_process import REPO, GatewayProcess
from tests.integration.intake_checks import kept_file, received, sha256_of
from tests.integration.sftp_clients import asyncssh_sftp, paramiko_session

USERS = REPO / "config" / "samples" / "users.csv"
Session = Callable[[asyncssh.SFTPClient], Awaitable[None]]


def _in_session(gateway: GatewayProcess, work: Session) -> None:
    """Run ``work`` in one asyncssh SFTP session of the first account."""

    async def run() -> None:
        conn, sftp = await asyncssh_sftp(gateway.sftp_port, gateway.accounts[0])
        async with conn:
            await work(sftp)

    asyncio.run(run())


async def _ranges(file: asyncssh.SFTPClientFile, length: int) -> list[tuple[int, int]]:
    return [found async for found in file.request_ranges(0, length)]


def test_ranges_on_an_open_upload_is_not_supported_and_the_upload_goes_on(
        intake: GatewayProcess) -> None:
    """asyncssh's ranges@asyncssh.com extension (its client asks before sparse copies)."""
    data = USERS.read_bytes()
    intake.start()

    async def work(sftp: asyncssh.SFTPClient) -> None:
        upload = await sftp.open("inbox/users.csv", "wb")
        await upload.write(data[:10], 0)
        with pytest.raises(asyncssh.SFTPOpUnsupported,
                           match=r"inbox/users\.csv: .*not supported.*cannot be read back"):
            await _ranges(upload, len(data))
        await upload.write(data[10:], 10)
        await upload.close()

    _in_session(intake, work)
    [upload] = received(intake)
    assert upload.sha256 == sha256_of(USERS)


def test_truncate_on_an_open_upload_is_refused_and_nothing_is_received(
        intake: GatewayProcess) -> None:
    """A truncate that keeps the size changes nothing and is answered OK; any other cannot
    be honoured (the digest is taken as the bytes stream in), so it fails the upload."""
    data = USERS.read_bytes()
    intake.start()

    async def work(sftp: asyncssh.SFTPClient) -> None:
        upload = await sftp.open("inbox/users.csv", "wb")
        await upload.write(data, 0)
        await upload.truncate(len(data))
        with pytest.raises(asyncssh.SFTPOpUnsupported,
                           match=r"inbox/users\.csv: .*truncate.* not supported"):
            await upload.truncate(10)
        with pytest.raises(asyncssh.SFTPFailure, match="truncate"):
            await upload.write(b"more", len(data))
        with pytest.raises(asyncssh.SFTPFailure, match="upload the whole file again"):
            await upload.close()

    _in_session(intake, work)
    assert received(intake) == []
    assert "upload refused" in intake.logs()


def test_paramiko_truncate_on_an_open_upload_is_refused(intake: GatewayProcess) -> None:
    """paramiko's SFTPFile.truncate (FSETSTAT with a size).  paramiko ignores errors on
    close, so the refusal of the truncate itself is what its user sees."""
    intake.start()
    client, sftp = paramiko_session(intake.sftp_port, intake.accounts[0])
    try:
        with sftp.open("inbox/users.csv", "wb") as upload:
            upload.write(USERS.read_bytes())
            upload.flush()
            with pytest.raises(OSError, match=r"truncate.* not supported"):
                upload.truncate(0)
    finally:
        client.close()
    assert received(intake) == []


def test_truncate_by_path_is_refused_unless_it_keeps_the_size(intake: GatewayProcess) -> None:
    """SETSTAT with a size on an inbox file or folder; times and modes stay accepted and
    ignored (clients set them after an upload)."""
    size = USERS.stat().st_size
    intake.start()

    async def work(sftp: asyncssh.SFTPClient) -> None:
        await sftp.put(str(USERS), "inbox/users.csv")
        await sftp.truncate("inbox/users.csv", size)
        await sftp.chmod("inbox/users.csv", 0o600)
        with pytest.raises(asyncssh.SFTPOpUnsupported,
                           match=r"inbox/users\.csv: .*truncate.* not supported"):
            await sftp.truncate("inbox/users.csv", 0)
        with pytest.raises(asyncssh.SFTPOpUnsupported, match="not supported"):
            await sftp.truncate("inbox", 0)
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            await sftp.truncate("inbox/nothing.csv", 0)

    _in_session(intake, work)
    [upload] = received(intake)
    assert upload.size == size
    assert sha256_of(kept_file(intake.data_dir, upload)) \
        == sha256_of(USERS)


def test_an_upload_is_never_read_back_by_server_side_copy(intake: GatewayProcess) -> None:
    """copy-data reads its source with the same rules as READ."""
    intake.start()

    async def work(sftp: asyncssh.SFTPClient) -> None:
        source = await sftp.open("inbox/users.csv", "wb")
        await source.write(b"user_id\n", 0)
        target = await sftp.open("inbox/copy.csv", "wb")
        with pytest.raises(asyncssh.SFTPPermissionDenied, match="cannot be read back"):
            await sftp.remote_copy(source, target)
        await source.close()

    _in_session(intake, work)
    assert [u.filename for u in received(intake)] == ["users.csv"]


def test_reports_answer_ranges_and_refuse_changes(intake: GatewayProcess) -> None:
    report = intake.data_dir / "sftp" / "alpha" / "reports" / "batch-000001.result.txt"
    intake.start()
    report.write_text("Imported 1 user\n")

    async def work(sftp: asyncssh.SFTPClient) -> None:
        async with sftp.open("reports/batch-000001.result.txt", "rb") as opened:
            assert await _ranges(opened, 100) == [(0, report.stat().st_size)]
            with pytest.raises(asyncssh.SFTPPermissionDenied, match="read-only"):
                await opened.truncate(0)
            with pytest.raises(asyncssh.SFTPPermissionDenied, match="read-only"):
                await opened.write(b"x", 0)
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.truncate("reports/batch-000001.result.txt", 0)

    _in_session(intake, work)
    assert report.read_text() == "Imported 1 user\n"
