"""`gateway institution ...` on files: checked before written, never half-written, clear
refusals."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncssh
import pytest

from gateway.ops.cli import main
from gateway.ops.institution_files import changes_locked, read_drop_in
from tests.unit.test_settings import HASH, VALID

URL = "https://gamma.instructure.com"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(VALID.replace('data_dir = "/tmp/gw"', f'data_dir = "{tmp_path / "data"}"'))
    return path


@pytest.fixture
def public_key(tmp_path: Path) -> Path:
    path = tmp_path / "key.pub"
    path.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_public_key())
    return path


def _cli(config: Path, *args: str) -> int:
    return main(["institution", *args, "--config", str(config)])


def test_add_writes_a_drop_in_that_loads(config: Path, public_key: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(config, "add", "gamma", "--canvas-url", URL, "--token-env", "G_TOKEN",
                "--key", str(public_key)) == 0
    out = capsys.readouterr().out
    assert "no gateway is running on" in out  # it takes the change at its next start
    text = (config.parent / "institutions.d" / "gamma.toml").read_text()
    assert 'base_url = "https://gamma.instructure.com"' in text
    assert _cli(config, "add", "gamma", "--canvas-url", URL, "--key", str(public_key)) == 1
    assert "institution 'gamma' already exists" in capsys.readouterr().err
    assert _cli(config, "add", "alpha", "--canvas-url", URL, "--key", str(public_key)) == 1
    assert f"institution 'alpha' already exists ({config})" in capsys.readouterr().err


def test_a_change_that_would_not_load_writes_nothing(config: Path, public_key: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    drop_in = config.parent / "institutions.d" / "gamma.toml"
    assert _cli(config, "add", "gamma", "--canvas-url", "http://gamma.example.edu",
                "--key", str(public_key)) == 2
    err = capsys.readouterr().err
    assert f"{drop_in}: canvas.base_url: must use https://" in err
    assert not drop_in.exists()
    assert _cli(config, "add", "gamma", "--canvas-url", URL) == 2
    assert "set a password or a key, or nobody can log in" in capsys.readouterr().err
    assert list(drop_in.parent.iterdir()) == []  # no temporary file left behind

    assert _cli(config, "add", "gamma", "--canvas-url", URL, "--key", str(public_key)) == 0
    before = drop_in.read_text()
    bad = config.parent / "bad.pub"
    bad.write_text("ssh-ed25519 AAAAnotakey\n")
    assert _cli(config, "add-key", "gamma", str(bad)) == 2
    assert "not an OpenSSH public key line" in capsys.readouterr().err
    assert drop_in.read_text() == before
    assert _cli(config, "add-key", "gamma", str(public_key)) == 1
    assert "institution gamma already has the key SHA256:" in capsys.readouterr().err


def test_a_change_serve_would_refuse_writes_nothing(config: Path, public_key: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    drop_in = config.parent / "institutions.d" / "gamma.toml"
    assert _cli(config, "add", "gamma", "--canvas-url", URL, "--username", "alpha",
                "--key", str(public_key)) == 2
    assert f"{drop_in}: institutions.gamma.username: 'alpha' is already used by institution " \
        "'alpha'" in capsys.readouterr().err
    assert _cli(config, "add", "gamma", "--canvas-url", "embedded-sandbox",
                "--key", str(public_key)) == 2
    assert f"{drop_in}: institutions.gamma.canvas.base_url: 'embedded-sandbox' needs " \
        "[sandbox] enabled" in capsys.readouterr().err
    assert not drop_in.exists()


def test_set_password_hashes_and_never_prints(config: Path, public_key: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(config, "add", "gamma", "--canvas-url", URL, "--key", str(public_key)) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert _cli(config, "set-password", "gamma", "--stdin") == 1
    assert "use at least 12 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-secret\n"))
    assert _cli(config, "set-password", "gamma", "--stdin") == 0
    captured = capsys.readouterr()
    assert "password set (stored as an argon2id hash" in captured.out
    assert "a-long-enough-secret" not in captured.out + captured.err
    assert "$argon2id$" in (config.parent / "institutions.d" / "gamma.toml").read_text()


def test_institutions_of_the_config_file_are_left_to_it(config: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert _cli(config, "remove", "alpha") == 1
    assert f"institution 'alpha' is defined in {config} ([institutions.alpha]); edit it " \
        "there" in capsys.readouterr().err
    assert _cli(config, "remove", "nobody") == 1
    assert "there is no institution 'nobody' in" in capsys.readouterr().err
    assert HASH in config.read_text()


def test_names_that_could_escape_the_folder_are_refused(config: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    with pytest.raises(SystemExit) as stopped:
        _cli(config, "remove", "../gateway")
    assert stopped.value.code == 2
    assert "use 1-63 lower-case letters" in capsys.readouterr().err
    assert config.exists()


def test_institution_needs_a_config(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    assert main(["institution", "remove", "gamma"]) == 2
    assert "needs --config FILE" in capsys.readouterr().err


def test_a_rewrite_keeps_the_files_owner_and_never_opens_its_mode(
        config: Path, public_key: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drop_in = config.parent / "institutions.d" / "gamma.toml"
    assert _cli(config, "add", "gamma", "--canvas-url", URL, "--key", str(public_key)) == 0
    assert drop_in.stat().st_mode & 0o777 == 0o640
    drop_in.chmod(0o600)  # the admin closed it further
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-secret\n"))
    assert _cli(config, "set-password", "gamma", "--stdin") == 0
    assert drop_in.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_a_drop_in_written_by_root_belongs_to_the_configs_owner(
        config: Path, public_key: Path) -> None:
    # `sudo gateway institution add ...`: the daemon, running as the config's owner, must
    # still be able to read the new file.
    os.chown(config, 12345, 12346)
    assert _cli(config, "add", "gamma", "--canvas-url", URL, "--key", str(public_key)) == 0
    written = (config.parent / "institutions.d" / "gamma.toml").stat()
    assert (written.st_uid, written.st_gid) == (12345, 12346)


def test_changes_wait_for_each_other(config: Path, public_key: Path, tmp_path: Path) -> None:
    """Two changes at once would each read the file and write back their own edit, losing
    one: a change waits while another holds the lock, then applies on top of it."""
    assert _cli(config, "add", "gamma", "--canvas-url", URL, "--token-env", "G_TOKEN",
                "--key", str(public_key)) == 0
    second = tmp_path / "second.pub"
    second.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_public_key())
    command = [sys.executable, "-m", "gateway", "institution", "add-key", "gamma",
               str(second), "--config", str(config)]
    with changes_locked(config):
        waiting = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3.0)  # long enough to start, import and reach the lock
        # Still waiting for the lock: it has written nothing yet.
        assert waiting.poll() is None
        assert len(read_drop_in(config, "gamma")["authorized_keys"]) == 1
    _, errors = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, errors
    assert len(read_drop_in(config, "gamma")["authorized_keys"]) == 2
