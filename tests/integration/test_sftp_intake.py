"""Intake semantics against the real gateway: what counts as received, limits, and failures
that must never produce a received file nor harm one already received."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncssh
import pytest

from gateway.state.states import UploadState
from tests.integration.gateway_process import REPO, GatewayProcess, wait_for
from tests.integration.intake_checks import assert_received_exactly, received, sha256_of
from tests.integration.sftp_clients import (
    asyncssh_sftp,
    openssh_batch,
    openssh_upload,
    paramiko_session,
)

USERS = REPO / "config" / "samples" / "users.csv"
COURSES = REPO / "config" / "samples" / "courses.csv"


def _incoming(gateway: GatewayProcess) -> list[Path]:
    return list((gateway.data_dir / "spool" / "incoming").iterdir())


def test_same_name_twice_is_two_uploads_in_order_and_stays_visible(
        intake: GatewayProcess, tmp_path: Path) -> None:
    alpha = intake.accounts[0]
    intake.start()
    second = tmp_path / "users.csv"
    second.write_bytes(USERS.read_bytes() + b"u9,l9,active\n")
    openssh_upload(intake.sftp_port, alpha, USERS, "users.csv")
    openssh_upload(intake.sftp_port, alpha, second, "users.csv")
    uploads = received(intake)
    assert [(u.filename, u.sha256) for u in uploads] == [
        ("users.csv", sha256_of(USERS)), ("users.csv", sha256_of(second))]
    client, sftp = paramiko_session(intake.sftp_port, alpha)
    try:
        assert sftp.listdir("inbox") == ["users.csv"]
        assert sftp.stat("inbox/users.csv").st_size == second.stat().st_size
    finally:
        client.close()


def test_reports_can_be_listed_and_read_but_not_changed(intake: GatewayProcess,
                                                       tmp_path: Path) -> None:
    intake.start()
    reports = intake.data_dir / "sftp" / "alpha" / "reports"
    (reports / "batch-000001.result.txt").write_text("Imported\n")
    (reports / ".batch-000002.result.txt.0a1b.tmp").write_text("being written")
    client, sftp = paramiko_session(intake.sftp_port, intake.accounts[0])
    try:
        assert sftp.listdir("reports") == ["batch-000001.result.txt"]
        assert sftp.stat("/reports/batch-000001.result.txt").st_size == len("Imported\n")
        sftp.get("reports/batch-000001.result.txt", str(tmp_path / "copy.txt"))
        with pytest.raises(OSError, match="only files in /inbox can be removed"):
            sftp.remove("reports/batch-000001.result.txt")
        with pytest.raises(OSError, match="upload files into /inbox"):
            sftp.open("reports/batch-000001.result.txt", "w")
    finally:
        client.close()
    assert (tmp_path / "copy.txt").read_text() == "Imported\n"


def test_temp_names_are_received_once_under_the_final_name(intake: GatewayProcess) -> None:
    alpha = intake.accounts[0]
    intake.start()
    done = openssh_batch(intake.sftp_port, alpha, [
        f'put "{USERS}" inbox/users.csv.part',
        "ls -l inbox",  # the temp file is visible while it waits for its rename
        "rename inbox/users.csv.part inbox/users.csv.tmp",  # temp to temp: still waiting
        "rename inbox/users.csv.tmp inbox/users.csv",
        f'put "{COURSES}" inbox/courses.csv~',
        "rm inbox/courses.csv~",  # a temp file removed is never received
    ])
    assert done.returncode == 0, done.stderr
    assert "users.csv.part" in done.stdout
    assert_received_exactly(intake, {"users.csv": USERS})


def test_received_files_cannot_be_renamed_and_removing_one_only_hides_it(
        intake: GatewayProcess) -> None:
    alpha = intake.accounts[0]
    intake.start()
    openssh_upload(intake.sftp_port, alpha, USERS, "users.csv")
    client, sftp = paramiko_session(intake.sftp_port, alpha)
    try:
        with pytest.raises(OSError, match="has been received and cannot be renamed"):
            sftp.rename("inbox/users.csv", "inbox/other.csv")
        sftp.remove("inbox/users.csv")
        assert sftp.listdir("inbox") == []
    finally:
        client.close()
    assert_received_exactly(intake, {"users.csv": USERS})  # custody is never given back


def test_resume_at_an_offset_is_refused_and_nothing_is_received(intake: GatewayProcess
                                                                 ) -> None:
    alpha = intake.accounts[0]
    intake.start()
    client, sftp = paramiko_session(intake.sftp_port, alpha)
    try:
        handle = sftp.open("inbox/users.csv", "w")
        handle.seek(1000)
        with pytest.raises(OSError, match="resume is not supported; upload the whole file"):
            handle.write(b"tail of an earlier upload")
        handle.close()  # paramiko ignores errors on close; the gateway discards the file
    finally:
        client.close()
    assert received(intake) == []
    wait_for(lambda: not _incoming(intake), 10, "the refused upload's temp file to go")


def test_a_write_that_fails_on_disk_never_becomes_a_received_file(intake: GatewayProcess,
                                                                  tmp_path: Path) -> None:
    """``ulimit -f`` stands in for a full disk: pwrite fails or writes short past it."""
    intake.file_size_limit = 4 << 20
    alpha = intake.accounts[0]
    intake.start()
    openssh_upload(intake.sftp_port, alpha, USERS, "users.csv")
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (6 << 20) + b"tail")
    done = openssh_batch(intake.sftp_port, alpha, [f'put "{big}" inbox/big.csv'])
    assert done.returncode != 0
    assert_received_exactly(intake, {"users.csv": USERS})  # and the earlier one is intact
    assert "could not write this upload" in intake.logs()


def test_file_size_and_pending_quota_limits(intake: GatewayProcess, tmp_path: Path) -> None:
    intake.intake_options = {"alpha": [f"max_file_bytes = {4000}",
                                       f"max_pending_bytes = {USERS.stat().st_size + 600}"]}
    alpha = intake.accounts[0]
    intake.start()
    openssh_upload(intake.sftp_port, alpha, USERS, "users.csv")
    too_big = tmp_path / "big.csv"
    too_big.write_bytes(b"a" * 5000)
    over_quota = tmp_path / "more.csv"
    over_quota.write_bytes(b"b" * 1000)
    assert "max_file_bytes" in _refusal(intake, too_big)
    assert "max_pending_bytes" in _refusal(intake, over_quota)
    assert_received_exactly(intake, {"users.csv": USERS})
    logs = intake.logs()
    assert "upload refused" in logs
    assert "max_pending_bytes" in logs


def test_max_sessions_refuses_the_extra_session_with_a_reason(intake: GatewayProcess) -> None:
    intake.intake_options = {"alpha": ["max_sessions = 1"]}
    alpha = intake.accounts[0]
    intake.start()
    client, sftp = paramiko_session(intake.sftp_port, alpha)
    try:
        done = openssh_batch(intake.sftp_port, alpha, ["ls inbox"])
        assert done.returncode != 0
        assert "max_sessions" in done.stderr
        assert sftp.listdir("inbox") == []  # the first session is unharmed
    finally:
        client.close()
    wait_for(lambda: openssh_batch(intake.sftp_port, alpha, ["ls inbox"]).returncode == 0,
             10, "the session slot to be free again")


def test_idle_sessions_are_closed(intake: GatewayProcess) -> None:
    intake.intake_options = {"alpha": ["idle_timeout_seconds = 1"]}
    intake.start()
    client, _ = paramiko_session(intake.sftp_port, intake.accounts[0])
    try:
        transport = client.get_transport()
        assert transport is not None
        wait_for(lambda: not transport.is_active(), 10, "the idle session to be closed")
    finally:
        client.close()
    assert "idle session closed" in intake.logs()


def test_reload_swaps_credentials_without_dropping_sessions(intake: GatewayProcess) -> None:
    alpha = intake.accounts[0]
    intake.start()
    client, sftp = paramiko_session(intake.sftp_port, alpha)
    try:
        text = intake.config_path.read_text()
        intake.config_path.write_text(text.replace(f'authorized_keys = ["{alpha.public_key}"]',
                                                   "authorized_keys = []", 1))
        intake.reload()
        wait_for(lambda: "SFTP accounts reloaded" in intake.logs(), 10, "the reload")
        assert openssh_batch(intake.sftp_port, alpha, ["ls inbox"]).returncode != 0
        with sftp.open("inbox/users.csv", "w") as handle:  # the live session goes on
            handle.write(USERS.read_bytes())

        intake.config_path.write_text("this is not toml [")
        intake.reload()
        wait_for(lambda: "reload refused" in intake.logs(), 10, "the bad reload")
        paramiko_session(intake.sftp_port, alpha)[0].close()  # password still works
    finally:
        client.close()
    assert_received_exactly(intake, {"users.csv": USERS})


def test_shutdown_lets_a_closing_upload_finish(intake: GatewayProcess, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x5a" * (96 << 20))
    intake.start()

    async def upload_then_stop() -> None:
        conn, sftp = await asyncssh_sftp(intake.sftp_port, intake.accounts[0])
        async with conn:
            handle = await sftp.open("inbox/big.bin", "wb")
            await handle.write(big.read_bytes())
            closing = asyncio.ensure_future(handle.close())
            await asyncio.sleep(0.02)  # the CLOSE is on its way; now stop the gateway
            assert intake.process is not None
            intake.process.terminate()
            await closing  # answered: the upload was completed, not cut off

    asyncio.run(upload_then_stop())
    assert intake.process is not None
    assert intake.process.wait(30) == 0
    intake.process = None
    assert_received_exactly(intake, {"big.bin": big})


def test_zero_byte_file_is_received_then_rejected_with_a_reason(
        gateway: GatewayProcess, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    gateway.start()
    openssh_upload(gateway.sftp_port, gateway.accounts[0], empty, "empty.csv")
    upload = wait_for(lambda: [u for u in received(gateway)
                               if u.state is UploadState.REJECTED], 20, "the rejection")[0]
    assert upload.size == 0
    assert upload.problem is not None
    assert "empty" in upload.problem.lower()


def test_sorter_waits_for_an_upload_still_being_written(gateway: GatewayProcess) -> None:
    gateway.start()
    alpha = gateway.accounts[0]
    client, sftp = paramiko_session(gateway.sftp_port, alpha)
    try:
        handle = sftp.open("inbox/courses.csv", "w")
        handle.write(COURSES.read_bytes()[:20])
        handle.flush()
        openssh_upload(gateway.sftp_port, alpha, USERS, "users.csv")
        time.sleep(gateway.quiet_seconds * 4)  # several quiet periods pass meanwhile
        assert gateway.store().batches() == []
        handle.write(COURSES.read_bytes()[20:])
        handle.close()
    finally:
        client.close()
    batches = wait_for(lambda: gateway.store().batches(), 20, "the batch")
    assert len(batches) == 1
    assert sorted(u.filename for u in gateway.store().uploads(batch_id=batches[0].id)) == [
        "courses.csv", "users.csv"]


def _refusal(gateway: GatewayProcess, local: Path) -> str:
    """Upload ``local`` with asyncssh (whose errors carry the server's message) expecting a
    refusal; return its message."""

    async def attempt() -> str:
        conn, sftp = await asyncssh_sftp(gateway.sftp_port, gateway.accounts[0])
        async with conn:
            with pytest.raises(asyncssh.SFTPError) as refused:
                await sftp.put(str(local), f"inbox/{local.name}")
        return str(refused.value.reason)

    return asyncio.run(attempt())
