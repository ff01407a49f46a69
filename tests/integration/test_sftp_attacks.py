"""Attacks on the SFTP intake: every escape attempt fails with a clear error and reads nothing
outside the home; one institution never reaches another's files; brute force gets banned."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable
from pathlib import Path

import asyncssh
import paramiko
import pytest

from tests.integration.gateway_process import REPO, Account, GatewayProcess, make_account, wait_for
from tests.integration.intake_checks import kept_file, received, sha256_of
from tests.integration.sftp_clients import asyncssh_sftp, openssh_batch, paramiko_session

USERS = REPO / "config" / "samples" / "users.csv"

ESCAPES: list[tuple[str, Callable[[paramiko.SFTPClient], object]]] = [
    ("list the parent of the home", lambda s: s.listdir("/..")),
    ("list via a relative parent", lambda s: s.listdir("../..")),
    ("list an absolute system folder", lambda s: s.listdir("/etc")),
    ("read a system file", lambda s: s.open("/etc/passwd").read()),
    ("read via traversal", lambda s: s.open("inbox/../../../../etc/passwd").read()),
    ("read the state database", lambda s: s.open("/../../state.db").read()),
    ("stat outside", lambda s: s.stat("/../data")),
    ("write outside the inbox", lambda s: s.open("/escape.csv", "w").write(b"x")),
    ("write into reports", lambda s: s.open("/reports/fake.txt", "w").write(b"x")),
    ("write via traversal", lambda s: s.open("inbox/../../beta/inbox/x.csv", "w")),
    ("symlink to a system file", lambda s: s.symlink("/etc/passwd", "inbox/passwd")),
    ("make a folder in the inbox", lambda s: s.mkdir("inbox/sub")),
    ("make a folder at the top", lambda s: s.mkdir("/sub")),
    ("remove the reports folder", lambda s: s.rmdir("/reports")),
    ("chmod the reports folder", lambda s: s.chmod("/reports", 0o777)),
    ("chmod the home", lambda s: s.chmod("/", 0o777)),
    ("rename the inbox", lambda s: s.rename("/inbox", "/elsewhere")),
    ("read a link", lambda s: s.readlink("/inbox")),
    ("name with a control character", lambda s: s.open("inbox/a\x1bb.csv", "w")),
    ("name with NUL", lambda s: s.open("inbox/a\x00b.csv", "w")),
    ("resume an upload (append)", lambda s: s.open("inbox/users.csv", "a").write(b"x")),
]


@pytest.mark.parametrize(("what", "attempt"), ESCAPES, ids=[e[0] for e in ESCAPES])
def test_escape_attempt_is_refused(intake: GatewayProcess, what: str,
                                   attempt: Callable[[paramiko.SFTPClient], object]) -> None:
    intake.start()
    client, sftp = paramiko_session(intake.sftp_port, intake.accounts[0])
    try:
        with pytest.raises(OSError, match=r"\w"):  # refused, with a message
            attempt(sftp)
        assert sorted(sftp.listdir("/")) == ["inbox", "outbox", "reports"]
    finally:
        client.close()
    assert received(intake) == []


def test_refusals_say_what_to_do(intake: GatewayProcess) -> None:
    intake.start()
    client, sftp = paramiko_session(intake.sftp_port, intake.accounts[0])
    try:
        with pytest.raises(OSError, match=r"only /inbox .*, /reports .* and /outbox .* exist here"):
            sftp.listdir("/etc")
        with pytest.raises(OSError, match=r"'\.\.' is not allowed"):
            sftp.stat("/inbox/../..")
        with pytest.raises(OSError, match="resume is not supported; upload the whole file"):
            sftp.open("inbox/users.csv", "a").write(b"x")
        with pytest.raises(OSError, match="control characters"):
            sftp.open("inbox/a\x07.csv", "w")
        assert sftp.normalize("/../../..") == "/"
    finally:
        client.close()


def test_links_and_link_attributes_are_refused(intake: GatewayProcess) -> None:
    """hardlink@openssh.com and lsetstat@openssh.com (asyncssh's client speaks both)."""
    intake.start()

    async def attempt() -> None:
        conn, sftp = await asyncssh_sftp(intake.sftp_port, intake.accounts[0])
        async with conn:
            await sftp.put(str(USERS), "inbox/users.csv")
            with pytest.raises(asyncssh.SFTPError, match="links are not allowed"):
                await sftp.link("inbox/users.csv", "inbox/copy.csv")
            with pytest.raises(asyncssh.SFTPError, match="attributes can only be set"):
                await sftp.chmod("/reports", 0o777, follow_symlinks=False)
            # Inside the inbox times and modes are accepted and ignored: clients set them.
            await sftp.chmod("inbox/users.csv", 0o000, follow_symlinks=False)
            await sftp.chmod("inbox/users.csv", 0o000)
            with pytest.raises(asyncssh.SFTPOpUnsupported, match="truncate"):
                await sftp.truncate("inbox/users.csv", 0)
            with pytest.raises(asyncssh.SFTPError, match="cannot be read back"):
                await sftp.open("inbox/users.csv", "rb")

    asyncio.run(attempt())
    [upload] = received(intake)
    spooled = kept_file(intake.data_dir, upload)
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600  # the spool copy is untouched
    assert sha256_of(spooled) == sha256_of(USERS)
    reports = intake.data_dir / "sftp" / "alpha" / "reports"
    assert stat.S_IMODE(reports.stat().st_mode) != 0o777


def test_sftp_v6_client_gets_the_same_rules(intake: GatewayProcess) -> None:
    """A client asking for SFTP v6 is served v3, whose opens go through the allow-list."""
    intake.start()

    async def attempt() -> None:
        conn, sftp = await asyncssh_sftp(intake.sftp_port, intake.accounts[0],
                                         sftp_version=6)
        async with conn:
            assert sftp.version == 3
            with pytest.raises(asyncssh.SFTPError):
                await sftp.open("/etc/passwd", "rb")

    asyncio.run(attempt())


def test_institutions_never_see_or_touch_each_others_files(intake: GatewayProcess,
                                                           tmp_path: Path) -> None:
    alpha, beta = intake.accounts
    intake.start()
    secret = tmp_path / "alpha-only.csv"
    secret.write_bytes(b"user_id,login_id,status\nsecret,secret,active\n")
    done = openssh_batch(intake.sftp_port, alpha, [f'put "{secret}" inbox/shared-name.csv'])
    assert done.returncode == 0, done.stderr

    client, sftp = paramiko_session(intake.sftp_port, beta)
    try:
        assert sftp.listdir("inbox") == []
        for path in ("inbox/shared-name.csv", "/../alpha/inbox/shared-name.csv",
                     "../alpha/reports"):
            with pytest.raises(OSError, match=r"no such file|not allowed|exist here"):
                sftp.stat(path)
        with pytest.raises(OSError, match=r"not allowed"):
            sftp.open("../alpha/inbox/shared-name.csv", "w")
        with sftp.open("inbox/shared-name.csv", "w") as handle:  # beta's own upload
            handle.write(b"user_id,login_id,status\nb,b,active\n")
    finally:
        client.close()
    uploads = {u.institution: u for u in received(intake)}
    assert uploads["alpha"].sha256 == sha256_of(secret)  # alpha's file is untouched
    assert uploads["beta"].sha256 != uploads["alpha"].sha256


def test_brute_force_gets_the_address_banned_and_logs_no_secret(intake: GatewayProcess
                                                                ) -> None:
    intake.sftp_options = ["ban_failures = 3", "ban_window_seconds = 60", "ban_seconds = 30"]
    alpha = intake.accounts[0]
    intake.start()
    guesses = [f"guess-{n}-hunter2" for n in range(3)]
    for guess in guesses:
        with pytest.raises(paramiko.AuthenticationException):
            _login(intake.sftp_port, alpha.name, guess)
    # Banned: even the right password is refused now, before authentication.
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        _login(intake.sftp_port, alpha.name, alpha.password)
    logs = wait_for(lambda: intake.logs() if "connection refused: address banned"
                    in intake.logs() else "", 10, "the ban to be logged")
    assert "address banned" in logs
    assert not any(guess in logs for guess in guesses)
    assert alpha.password not in logs


def test_too_many_tries_on_one_connection_end_it(intake: GatewayProcess) -> None:
    intake.sftp_options = ["max_auth_tries = 2"]
    alpha = intake.accounts[0]
    intake.start()
    transport = paramiko.Transport(("127.0.0.1", intake.sftp_port))
    try:
        transport.start_client(timeout=10)
        for _ in range(2):
            with pytest.raises(paramiko.AuthenticationException):
                transport.auth_password(alpha.name, "wrong-password")
        wait_for(lambda: not transport.is_active(), 10, "the connection to be closed")
    finally:
        transport.close()


def test_login_from_outside_allowed_cidrs_is_refused(intake: GatewayProcess) -> None:
    alpha, beta = intake.accounts
    intake.intake_options = {"alpha": ['allowed_cidrs = ["192.0.2.0/24"]']}
    intake.start()
    with pytest.raises(paramiko.AuthenticationException):
        _login(intake.sftp_port, alpha.name, alpha.password)
    done = openssh_batch(intake.sftp_port, alpha, ["ls inbox"])
    assert done.returncode != 0
    client, _ = paramiko_session(intake.sftp_port, beta)  # beta has no such limit
    client.close()
    assert "address not allowed" in intake.logs()


def test_rsa_keys_must_sign_with_sha2(intake: GatewayProcess, tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    key_file = tmp_path / "rsa_key"
    key_file.write_bytes(key.export_private_key("openssh"))
    rsa = Account("alpha", "unused", key_file, key.export_public_key().decode().strip())
    intake.accounts = [rsa, make_account("beta", tmp_path)]
    intake.start()

    async def login(signature_algs: list[str] | None) -> None:
        options = {} if signature_algs is None else {"signature_algs": signature_algs}
        conn = await asyncssh.connect("127.0.0.1", intake.sftp_port, username="alpha",
                                      client_keys=[key], known_hosts=None, agent_path=None,
                                      **options)
        conn.close()

    asyncio.run(login(None))  # rsa-sha2-512/256: accepted
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(login(["ssh-rsa"]))  # RSA with SHA-1: refused


def _login(port: int, username: str, password: str) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect("127.0.0.1", port=port, username=username, password=password,
                       look_for_keys=False, allow_agent=False, timeout=10, banner_timeout=10)
    finally:
        client.close()
