"""No secret ever leaves its place: canary secrets through a full flow, then grep everything.

The Canvas token, an SFTP password (and a wrong one typed by a "vendor") and the SMTP
password are unique canary strings, each really used: the sandbox accepts only that token,
the SMTP server only that login, the upload logs in with that password.  After an upload,
import, reports by SFTP and SMTP, the ops commands and the HTTP pages, every byte the gateway
wrote (logs, reports, archive, spool, state.db and its WAL, mail) and every message and
command output is searched for each canary.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from gateway.ops.cli import main
from gateway.sandbox.server import CanvasSandbox
from gateway.state.states import BatchState, NoticeState
from tests.integration.gateway_process import REPO, GatewayProcess, make_account, wait_for
from tests.integration.mail_server import Collector, smtp_server
from tests.integration.sftp_clients import paramiko_put, paramiko_session

CANVAS_TOKEN = f"canary-canvas-token-{secrets.token_hex(8)}"
WRONG_TOKEN = f"canary-wrong-token-{secrets.token_hex(8)}"
SFTP_PASSWORD = f"canary-sftp-password-{secrets.token_hex(8)}"
WRONG_PASSWORD = f"canary-wrong-password-{secrets.token_hex(8)}"
SMTP_PASSWORD = f"canary-smtp-password-{secrets.token_hex(8)}"
CANARIES = (CANVAS_TOKEN, WRONG_TOKEN, SFTP_PASSWORD, WRONG_PASSWORD, SMTP_PASSWORD)


class SmtpLogin:
    """aiosmtpd authenticator accepting only the canary login, remembering that it did."""

    def __init__(self) -> None:
        self.accepted = 0

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and \
            auth_data.password.decode() == SMTP_PASSWORD
        self.accepted += ok
        return AuthResult(success=ok)


@pytest.fixture
def canary_gateway(tmp_path: Path) -> Iterator[tuple[GatewayProcess, Collector, SmtpLogin]]:
    login, collector = SmtpLogin(), Collector()
    account = dataclasses.replace(make_account("alpha", tmp_path), password=SFTP_PASSWORD)
    with CanvasSandbox(accounts={"1": CANVAS_TOKEN}, processing_seconds=0.3) as sandbox, \
            smtp_server(collector, authenticator=login, auth_require_tls=False) as port:
        gateway = GatewayProcess(root=tmp_path, sandbox_url=sandbox.base_url, smtp_port=port,
                                 accounts=[account], token=CANVAS_TOKEN,
                                 env={"TEST_SMTP_PASSWORD": SMTP_PASSWORD})
        gateway.write_config()
        config = gateway.config_path.read_text().replace(
            'security = "plain"',
            'security = "plain"\nusername = "gateway"\npassword_env = "TEST_SMTP_PASSWORD"')
        gateway.config_path.write_text(config)
        yield gateway, collector, login
        if gateway.process is not None:
            gateway.kill()


def _leaks(blob: bytes) -> list[str]:
    return [canary for canary in CANARIES if canary.encode() in blob]


def _files_with_canaries(root: Path) -> dict[str, list[str]]:
    return {str(path): found for path in sorted(root.rglob("*")) if path.is_file()
            and (found := _leaks(path.read_bytes()))}


def _mail_texts(collector: Collector) -> list[bytes]:
    """Each message raw and with every MIME part decoded (base64 would hide a canary)."""
    texts = []
    for received in collector.messages:
        texts.append(received.content)
        message = email.message_from_bytes(received.content, policy=email.policy.default)
        for part in message.walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(payload)
    return texts


def _flow(gateway: GatewayProcess) -> None:
    """Upload with the password (after a wrong one), wait for the import and both reports."""
    [account] = gateway.accounts
    with pytest.raises(Exception, match="Authentication failed"):
        paramiko_session(gateway.sftp_port, dataclasses.replace(account,
                                                                password=WRONG_PASSWORD))
    paramiko_put(gateway.sftp_port, account, REPO / "config" / "samples" / "users.csv",
                 "inbox/users.csv")

    def settled() -> bool:
        store = gateway.store()
        return [b.state for b in store.batches()] == [BatchState.IMPORTED] and \
            not store.notices(state=NoticeState.PENDING)

    wait_for(settled, 40, "the import and its reports")


def _operations(gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ops commands, including the failing paths most tempted to print a secret."""
    config = ["--config", str(gateway.config_path)]
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("TEST_CANVAS_TOKEN", CANVAS_TOKEN)
    for command in (["status", "--json"], ["show", "1"], ["show", "upload", "1", "--json"],
                    ["check", "config"], ["check", "canvas"], ["check", "sftp"],
                    ["check", "http"], ["check", "smtp", "--to", "ops@test.example"]):
        main([*command, *config])
    monkeypatch.setenv("TEST_CANVAS_TOKEN", WRONG_TOKEN)
    assert main(["check", "canvas", *config]) == 1  # Canvas refuses the wrong token


def test_no_secret_in_any_log_report_mail_archive_spool_or_output(
        canary_gateway: tuple[GatewayProcess, Collector, SmtpLogin],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    gateway, collector, login = canary_gateway
    gateway.start()
    _flow(gateway)
    _operations(gateway, monkeypatch)
    pages = b"".join(urllib.request.urlopen(
        f"http://127.0.0.1:{gateway.http_port}{path}", timeout=10).read()
        for path in ("/", "/batches/1", "/metrics", "/readyz"))
    assert gateway.stop() == 0
    output = capsys.readouterr()

    # Each secret was really used, so a leak had every chance to happen.
    assert login.accepted >= 2  # two reports, plus the check message
    assert len(collector.messages) >= 3
    assert "FAIL  canvas alpha" in output.out
    assert b"login refused" in gateway.log_path.read_bytes()
    assert (gateway.data_dir / "archive").exists()
    # The search itself finds a canary where there is one.
    assert _leaks(f"x{SMTP_PASSWORD}x".encode()) == [SMTP_PASSWORD]

    assert _files_with_canaries(gateway.root) == {}
    assert [text for text in _mail_texts(collector) if _leaks(text)] == []
    assert _leaks(pages) == []
    assert _leaks((output.out + output.err).encode()) == []
