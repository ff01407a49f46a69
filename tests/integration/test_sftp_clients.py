"""Every real SFTP client vendors use, against the real gateway: a plain upload, the client's
temp-name-then-rename habit, a large file, and the received bytes' SHA-256 equal the sent."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.intake_checks import assert_received_exactly, received
from tests.integration.sftp_clients import (
    JSCH_JAR,
    asyncssh_upload,
    curl_upload,
    go_client,
    go_upload,
    jsch_upload,
    lftp_upload,
    openssh_upload,
    paramiko_upload,
    psftp_upload,
    rclone_upload,
    scp_upload,
)

SAMPLES = REPO / "config" / "samples"
LARGE_BYTES = 64 << 20
GCM_ONLY = ['encryption_algs = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]']

Upload = Callable[[int, Account, Path, str, str | None], None]


@dataclass(frozen=True)
class Client:
    """A client, and how it uploads to a temporary name (renames: does it rename itself)."""

    program: str
    upload: Upload
    temp: str
    renames: bool = True
    files: tuple[Path, ...] = ()
    """Files the client needs besides its program (a library jar)."""


@functools.cache
def _go_program() -> Path:
    return go_client(Path(tempfile.mkdtemp(prefix="goupload-")))


def _go_upload(port: int, account: Account, local: Path, name: str,
               temp: str | None = None) -> None:
    go_upload(_go_program(), port, account, local, name, temp)


CLIENTS = {
    "openssh-sftp": Client("sftp", openssh_upload, "courses.csv.filepart"),
    "openssh-scp": Client("scp", scp_upload, "courses.csv.part", renames=False),
    "paramiko": Client("python3", paramiko_upload, "courses.csv.tmp"),
    "asyncssh": Client("python3", asyncssh_upload, ".courses.csv"),
    "lftp": Client("lftp", lftp_upload, ".in.*"),
    "rclone": Client("rclone", rclone_upload, "courses.csv.partial", renames=False),
    # Debian 12's curl: libssh2 1.10, which knows no AES-GCM and no -etm MAC.
    "curl": Client("curl", curl_upload, "courses.csv.part"),
    # PuTTY's psftp: the SSH engine of WinSCP and FileZilla.
    "psftp": Client("psftp", psftp_upload, "courses.csv.filepart"),
    # The original JSch (Debian's 0.1.54): AES-CTR, hmac-sha2-256, ECDH, ECDSA host key.
    "jsch": Client("java", jsch_upload, "courses.csv.part", files=(JSCH_JAR,)),
    # Go's x/crypto/ssh with pkg/sftp, built from Debian's packages.
    "go-x-crypto": Client("go", _go_upload, "courses.csv.tmp"),
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


def _needs(program: str, *files: Path) -> None:
    missing = shutil.which(program) is None or not all(path.exists() for path in files)
    if missing and not os.environ.get("CI"):
        pytest.skip(f"{program} {' '.join(map(str, files))} not installed (.ci/run installs "
                    "them)")


@pytest.mark.parametrize("client", list(CLIENTS.values()), ids=list(CLIENTS))
def test_client_uploads_whole_files_exactly_once(intake: GatewayProcess, payloads: Payloads,
                                                 client: Client) -> None:
    _needs(client.program, *client.files)
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


def test_curl_is_refused_at_key_exchange_when_only_aes_gcm_is_offered(
        intake: GatewayProcess, payloads: Payloads) -> None:
    """Why the default offers CTR too: libssh2 1.10 (Debian 12's curl) knows no AES-GCM."""
    _needs("curl")
    intake.sftp_options = GCM_ONLY
    intake.start()
    with pytest.raises(AssertionError, match="curl failed"):
        curl_upload(intake.sftp_port, intake.accounts[0], payloads.users, "users.csv")
    assert received(intake) == []
