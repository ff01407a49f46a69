"""`gateway check config|canvas|smtp|sftp|http` against real servers on loopback."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import asyncssh
import pytest

from gateway.ops.cli import main
from tests.integration.conftest import SANDBOX_TOKEN
from tests.integration.gateway_process import GatewayProcess, make_host_key, wait_for
from tests.integration.mail_server import Collector, free_port
from tests.postgres import PASSWORD


def _check(gateway: GatewayProcess, capsys: pytest.CaptureFixture[str],
           *args: str) -> tuple[int, list[dict[str, object]]]:
    capsys.readouterr()
    code = main(["check", *args, "--json", "--config", str(gateway.config_path)])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def configured(gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch) -> GatewayProcess:
    gateway.write_config()
    monkeypatch.setenv("TEST_CANVAS_TOKEN", SANDBOX_TOKEN)
    return gateway


def test_config_and_canvas(configured: GatewayProcess, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert _check(configured, capsys, "config") == (0, [
        {"target": "config", "ok": True, "detail": "1 institution: alpha"}])
    code, [canvas] = _check(configured, capsys, "canvas")
    assert code == 0
    assert "reachable, token accepted" in str(canvas["detail"])

    monkeypatch.setenv("TEST_CANVAS_TOKEN", "not-the-token")
    code, [canvas] = _check(configured, capsys, "canvas", "--institution", "alpha")
    assert code == 1
    assert "answered 401" in str(canvas["detail"])
    assert "not-the-token" not in str(canvas["detail"])

    monkeypatch.delenv("TEST_CANVAS_TOKEN")
    code, [config] = _check(configured, capsys, "config")
    assert code == 1
    assert "TEST_CANVAS_TOKEN is not set" in str(config["detail"])


def test_config_checks_webhooks_as_serve_would(configured: GatewayProcess,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    configured.extra_config = ["[[webhooks]]", 'name = "ops"', 'url_env = "OPS_HOOK_URL"']
    configured.write_config()
    code, [config] = _check(configured, capsys, "config")
    assert code == 1
    assert "webhooks.ops: environment variable OPS_HOOK_URL is not set" in \
        str(config["detail"])
    monkeypatch.setenv("OPS_HOOK_URL", "http://hooks.example.edu/secret-key")
    code, [config] = _check(configured, capsys, "config")
    assert code == 1
    assert "must use https://" in str(config["detail"])
    assert "secret-key" not in str(config["detail"])
    monkeypatch.setenv("OPS_HOOK_URL", "https://hooks.example.edu/secret-key")
    assert _check(configured, capsys, "config") == (0, [
        {"target": "config", "ok": True,
         "detail": "1 institution: alpha; 1 webhook: ops"}])


def test_canvas_unreachable(configured: GatewayProcess,
                            capsys: pytest.CaptureFixture[str]) -> None:
    text = configured.config_path.read_text()
    configured.config_path.write_text(
        text.replace(configured.sandbox_url, f"http://127.0.0.1:{free_port()}"))
    code, [canvas] = _check(configured, capsys, "canvas")
    assert code == 1
    assert "connection failed" in str(canvas["detail"])


def test_smtp_sends_a_test_message(configured: GatewayProcess,
                                   mailbox: tuple[Collector, int],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, [smtp] = _check(configured, capsys, "smtp", "--to", "it@test.example")
    assert code == 0, smtp
    [received] = mailbox[0].messages
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert received.rcpt_tos == ["it@test.example"]
    assert str(message["Subject"]).startswith("sis-gateway mail check")
    assert str(message["Subject"]).split()[-1] in str(smtp["detail"])
    assert main(["check", "smtp", "--config", str(configured.config_path)]) == 2


def test_sftp_and_http_against_the_running_daemon(configured: GatewayProcess, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    configured.start()
    code, [sftp] = _check(configured, capsys, "sftp")
    assert code == 0, sftp
    assert f"a host key in {configured.data_dir / 'host-keys'})" in str(sftp["detail"])
    wait_for(lambda: _check(configured, capsys, "http")[0] == 0, 10, "/readyz")

    # Another data dir's keys: the daemon answering is not the one using them.
    other = tmp_path / "other" / "host-keys"
    other.mkdir(parents=True)
    for key in (configured.data_dir / "host-keys").iterdir():
        algorithm = asyncssh.read_private_key(key).get_algorithm()
        (other / key.name).write_bytes(
            asyncssh.generate_private_key(algorithm).export_private_key())
    capsys.readouterr()
    code = main(["check", "sftp", "--config", str(configured.config_path),
                 "--data", str(other.parent)])
    assert code == 1
    assert "another server?" in capsys.readouterr().out

    assert configured.stop() == 0
    code, [sftp] = _check(configured, capsys, "sftp")
    assert code == 1
    assert "cannot connect" in str(sftp["detail"])
    code, [http] = _check(configured, capsys, "http")
    assert code == 1
    assert "Connection refused" in str(http["detail"])


def test_config_fails_on_an_unset_smtp_password_as_serve_would(
        configured: GatewayProcess, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SMTP_TEST_PASSWORD", raising=False)
    monkeypatch.setenv("GATEWAY_MAIL__SMTP__USERNAME", "gw")
    monkeypatch.setenv("GATEWAY_MAIL__SMTP__PASSWORD_ENV", "SMTP_TEST_PASSWORD")
    code, [config] = _check(configured, capsys, "config")
    assert code == 1
    assert config["detail"] == (f"{configured.config_path}: mail.smtp.password: environment "
                                "variable SMTP_TEST_PASSWORD is not set or empty")


def test_store_names_the_database_and_never_its_password(
        configured: GatewayProcess, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], postgres_url: str) -> None:
    code, [store] = _check(configured, capsys, "store")
    assert code == 1
    assert "no state.db in" in str(store["detail"])

    configured.extra_config = ["[cluster]", 'database_url_env = "TEST_DATABASE_URL"']
    configured.host_key_file = make_host_key(configured.root)
    configured.write_config()
    code, [store] = _check(configured, capsys, "store")
    assert code == 1
    assert "cluster.database_url: environment variable TEST_DATABASE_URL is not set" in \
        str(store["detail"])

    monkeypatch.setenv("TEST_DATABASE_URL", postgres_url)
    code, [store] = _check(configured, capsys, "store")
    assert code == 0
    assert store["detail"] == f"{_without_password(postgres_url)}: writable"

    monkeypatch.setenv("TEST_DATABASE_URL", postgres_url.replace(PASSWORD, "nope"))
    code, [store] = _check(configured, capsys, "store")
    assert code == 1
    assert "password authentication failed" in str(store["detail"])
    assert "nope" not in str(store["detail"])


def _without_password(url: str) -> str:
    return url.replace(f":{PASSWORD}@", "@")
