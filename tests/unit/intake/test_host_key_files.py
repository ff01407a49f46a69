"""Host keys from configured files (a secret mount shared by the nodes behind one address):
served as given, never generated, and refused with the file and the fix when unsafe."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh
import pytest

from gateway.intake.config import SftpSettings
from gateway.intake.hostkeys import read_configured_keys, server_host_keys
from gateway.settings import ConfigError


def _key_file(folder: Path, name: str, algorithm: str, *, bits: int = 3072,
              passphrase: str | None = None, mode: int = 0o600) -> Path:
    key = (asyncssh.generate_private_key(algorithm, key_size=bits)
           if algorithm == "ssh-rsa" else asyncssh.generate_private_key(algorithm))
    path = folder / name
    path.write_bytes(key.export_private_key(passphrase=passphrase))
    path.chmod(mode)
    return path


def test_configured_keys_are_served_and_nothing_is_generated(tmp_path: Path) -> None:
    files = (_key_file(tmp_path, "ed", "ssh-ed25519"),
             _key_file(tmp_path, "rsa", "ssh-rsa", mode=0o400))
    data_keys = tmp_path / "data" / "host-keys"
    keys = server_host_keys(SftpSettings(host_key_files=files), data_keys)
    expected = [asyncssh.read_private_key(path).public_data for path in files]
    assert [key.public_data for key in keys] == expected
    assert not data_keys.exists()  # configured keys: the data dir gets none


def test_without_configured_files_keys_are_made_in_the_data_dir(tmp_path: Path) -> None:
    keys = server_host_keys(SftpSettings(), tmp_path / "host-keys")
    assert len(keys) == 3
    assert len(list((tmp_path / "host-keys").iterdir())) == 3


def test_a_missing_file_is_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sftp.host_key_files: .*/absent: cannot read it "
                                          r"\(No such file or directory\); mount the key"):
        read_configured_keys([tmp_path / "absent"])


@pytest.mark.parametrize("mode", [0o620, 0o602])
def test_a_key_others_could_replace_is_refused(tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path, "ed", "ssh-ed25519", mode=mode)
    with pytest.raises(ConfigError, match="writable by group or others; make it 0600 or 0400"):
        read_configured_keys([path])


def test_an_encrypted_key_is_refused_saying_how_to_write_one(tmp_path: Path) -> None:
    path = _key_file(tmp_path, "ed", "ssh-ed25519", passphrase="secret-words")
    with pytest.raises(ConfigError, match="not an unencrypted private key") as raised:
        read_configured_keys([path])
    assert "ssh-keygen -N ''" in str(raised.value)
    assert "secret-words" not in str(raised.value)


def test_a_public_key_given_as_the_private_one_is_refused(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "ed.pub"
    path.write_bytes(key.export_public_key())
    with pytest.raises(ConfigError, match="not an unencrypted private key"):
        read_configured_keys([path])


def test_a_short_rsa_key_is_refused(tmp_path: Path) -> None:
    path = _key_file(tmp_path, "rsa", "ssh-rsa", bits=1024)
    with pytest.raises(ConfigError, match="1024-bit RSA key; use ed25519, ECDSA, or RSA of "
                                          "at least 2048 bits"):
        read_configured_keys([path])


def test_two_keys_of_one_algorithm_are_refused(tmp_path: Path) -> None:
    files = [_key_file(tmp_path, name, "ssh-ed25519") for name in ("one", "two")]
    with pytest.raises(ConfigError, match="two is a second ssh-ed25519 key"):
        read_configured_keys(files)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root reads any file: make it a directory instead
        path = tmp_path / "a-directory"
        path.mkdir()
    else:
        path = _key_file(tmp_path, "ed", "ssh-ed25519", mode=0o000)
    with pytest.raises(ConfigError, match="cannot read it"):
        read_configured_keys([path])
