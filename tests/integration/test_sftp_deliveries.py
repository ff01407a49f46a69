"""Trigger files and checksum sidecars: the vendor says when a set is complete, and what
each file's checksum must be; the sorter batches and rejects accordingly."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import asyncssh
import pytest

from gateway.state.states import UploadState
from tests.integration.gateway_process import REPO, GatewayProcess, wait_for
from tests.integration.intake_checks import received
from tests.integration.sftp_clients import asyncssh_sftp, openssh_batch

USERS = REPO / "config" / "samples" / "users.csv"
COURSES = REPO / "config" / "samples" / "courses.csv"


@pytest.fixture
def vendor(gateway: GatewayProcess) -> GatewayProcess:
    gateway.intake_options = {"alpha": ['trigger_files = ["READY", "*.done"]',
                                        "checksum_sidecars = true"]}
    gateway.start()
    return gateway


def _put(gateway: GatewayProcess, files: dict[str, bytes], tmp_path: Path) -> None:
    commands = []
    for name, data in files.items():
        local = tmp_path / f"local-{name}"
        local.write_bytes(data)
        commands.append(f'put "{local}" "inbox/{name}"')
    done = openssh_batch(gateway.sftp_port, gateway.accounts[0], commands)
    assert done.returncode == 0, done.stderr


def test_a_trigger_file_completes_the_delivery(vendor: GatewayProcess, tmp_path: Path) -> None:
    _put(vendor, {"users.csv": USERS.read_bytes(), "courses.csv": COURSES.read_bytes()},
         tmp_path)
    time.sleep(vendor.quiet_seconds * 4)  # quiet periods pass: no batch without the trigger
    assert vendor.store().batches() == []
    _put(vendor, {"READY": b""}, tmp_path)
    [batch] = wait_for(lambda: vendor.store().batches(), 20, "the batch")
    members = vendor.store().uploads(batch_id=batch.id)
    assert sorted(u.filename for u in members) == ["courses.csv", "users.csv"]
    assert all(u.state is UploadState.ACCEPTED for u in members)
    assert [u.filename for u in received(vendor)] == ["users.csv", "courses.csv"]


def test_checksum_sidecars_are_verified(vendor: GatewayProcess, tmp_path: Path) -> None:
    good = hashlib.sha256(USERS.read_bytes()).hexdigest()
    _put(vendor, {"users.csv": USERS.read_bytes(),
                  "users.csv.sha256": f"{good}  users.csv\n".encode(),
                  "courses.csv": COURSES.read_bytes()}, tmp_path)
    message = _refused_upload(vendor, "courses.csv.md5", b"0" * 32 + b"  courses.csv\n")
    assert "courses.csv will not be imported" in message
    assert "upload courses.csv and courses.csv.md5 again" in message
    _put(vendor, {"set.done": b""}, tmp_path)

    [batch] = wait_for(lambda: vendor.store().batches(), 20, "the batch")
    members = {u.filename: u for u in vendor.store().uploads(batch_id=batch.id)}
    assert set(members) == {"users.csv", "courses.csv"}  # sidecars are not uploads
    assert members["users.csv"].state is UploadState.ACCEPTED
    assert members["courses.csv"].state is UploadState.REJECTED
    assert "checksum file courses.csv.md5" in (members["courses.csv"].problem or "")
    assert "checksum verified" in vendor.logs()


def test_a_sidecar_before_its_file_is_refused_clearly(vendor: GatewayProcess) -> None:
    message = _refused_upload(vendor, "users.csv.sha256", b"a" * 64)
    assert "upload users.csv first" in message
    assert received(vendor) == []


def _refused_upload(gateway: GatewayProcess, name: str, data: bytes) -> str:
    async def attempt() -> str:
        conn, sftp = await asyncssh_sftp(gateway.sftp_port, gateway.accounts[0])
        async with conn:
            handle = await sftp.open(f"inbox/{name}", "wb")
            await handle.write(data)
            with pytest.raises(asyncssh.SFTPError) as refused:
                await handle.close()
        return str(refused.value.reason)

    return asyncio.run(attempt())
