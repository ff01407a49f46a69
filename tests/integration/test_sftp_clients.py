"""Every real SFTP client vendors use, against the real gateway: a plain upload, the client's
temp-name-then-rename habit, a large file, and the received bytes' SHA-256 equal the sent."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.intake_checks import assert_received_exactly, received
from tests.integration.sftp_clients import (
    asyncssh_upload,
    curl_upload,
    lftp_upload,
    openssh_upload,
    paramiko_upload,
    rclone_upload,
    scp_upload,
)

SAMPLES = REPO / "config" / "samples"
LARGE_BYTES = 64 << 20
CTR_TOO = ['encryption_algs = ["aes128-gcm@openssh.com", "aes128-ctr"]']

Upload = Callable[[int, Account, Path, str, str | None], None]


@dataclass(frozen=True)
class Client:
    """A client, and how it uploads to a temporary name (renames: does it rename itself)."""

    program: str
    upload: Upload
    temp: str
    renames: bool = True
    sftp_options: tuple[str, ...] = ()


CLIENTS = {
    "openssh-sftp": Client("sftp", openssh_upload, "courses.csv.filepart"),
    "openssh-scp": Client("scp", scp_upload, "courses.csv.part", renames=False),
    "paramiko": Client("python3", paramiko_upload, "courses.csv.tmp"),
    "asyncssh": Client("python3", asyncssh_upload, ".courses.csv"),
    "lftp": Client("lftp", lftp_upload, ".in.*"),
    "rclone": Client("rclone", rclone_upload, "courses.csv.partial", renames=False),
    # Debian 12's curl uses libssh2 1.10, which knows no AES-GCM: CTR must be offered.
    "curl": Client("curl", curl_upload, "courses.csv.part", sftp_options=tuple(CTR_TOO)),
}


@dataclass(frozen=True)
class Payloads:
    users: Path
    courses: Path
    large: Path


@pytest.fixture(scope="module")
def payloads(tmp_path_factory: pytest.TempPathFactory) -> Payloads:
    folder = tmp_path_factory.mktemp("payloads")
    large = folder / "large.bin"
    with open(large, "wb") as handle:
        block = os.urandom(1 << 20)
        for index in range(LARGE_BYTES >> 20):
            handle.write(bytes([index]) + block[1:])  # no two MiB alike
    return Payloads(SAMPLES / "users.csv", SAMPLES / "courses.csv", large)


def _needs(program: str) -> None:
    if shutil.which(program) is None and not os.environ.get("CI"):
        pytest.skip(f"{program} is not installed (.ci/run installs it)")


@pytest.mark.parametrize("client", list(CLIENTS.values()), ids=list(CLIENTS))
def test_client_uploads_whole_files_exactly_once(intake: GatewayProcess, payloads: Payloads,
                                                 client: Client) -> None:
    _needs(client.program)
    intake.sftp_options = list(client.sftp_options)
    account = intake.accounts[0]
    intake.start()
    client.upload(intake.sftp_port, account, payloads.users, "users.csv", None)
    client.upload(intake.sftp_port, account, payloads.courses, "courses.csv", client.temp)
    client.upload(intake.sftp_port, account, payloads.large, "large.bin", None)
    expected = {"users.csv": payloads.users, "large.bin": payloads.large}
    if client.renames:
        expected["courses.csv"] = payloads.courses
    else:  # a client that cannot rename leaves the temp name: never received, discarded
        wait_for(lambda: "never renamed to a final name" in intake.logs(), 10,
                 "the temp-named upload to be discarded")
    assert_received_exactly(intake, expected)


def test_curl_without_ctr_is_refused_at_key_exchange(intake: GatewayProcess,
                                                     payloads: Payloads) -> None:
    """The default offer is AES-GCM only: libssh2 1.10 clients must be let in explicitly."""
    _needs("curl")
    intake.start()
    with pytest.raises(AssertionError, match="curl failed"):
        curl_upload(intake.sftp_port, intake.accounts[0], payloads.users, "users.csv")
    assert received(intake) == []
