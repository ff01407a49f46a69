"""Intake settings and institution keys: modern choices only, each mistake named with its fix."""

from __future__ import annotations

from typing import Any

import asyncssh
import pytest

from gateway.intake.config import DEFAULT_CIPHERS, IntakeOptions, SftpSettings
from gateway.intake.keys import parse_authorized_key
from gateway.settings import ConfigError
from gateway.settings_files import settings_from_mapping

CANVAS = {"base_url": "https://canvas.example.edu", "token_env": "TOKEN"}


def _problem(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        settings_from_mapping(raw, source="test.toml", environ={})
    return str(error.value)


def test_defaults_offer_every_modern_cipher_never_cbc_or_sha1_and_sane_limits() -> None:
    sftp = SftpSettings()
    assert sftp.encryption_algs == DEFAULT_CIPHERS
    assert {"aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com",
            "aes128-ctr", "aes256-ctr"} <= set(sftp.encryption_algs)  # libssh2 1.10: CTR
    assert not any("cbc" in cipher for cipher in sftp.encryption_algs)
    assert {"hmac-sha2-256", "hmac-sha2-512"} <= set(sftp.mac_algs)  # libssh2 1.10: no -etm
    assert not any("sha1" in name for name in sftp.mac_algs)
    assert not any("sha1" in name or "group1-" in name for name in sftp.kex_algs)
    options = IntakeOptions()
    assert options.max_pending_bytes > options.max_file_bytes


@pytest.mark.parametrize(("key", "value", "says"), [
    ("encryption_algs", ["aes128-cbc"], "not a modern cipher"),
    ("kex_algs", ["diffie-hellman-group1-sha1"], "not a modern key exchange"),
    ("mac_algs", ["hmac-sha1"], "not a modern MAC"),
    ("encryption_algs", [], "offer at least one cipher"),
    ("safelist", ["10.0.0.0/33"], "not an address or CIDR block"),
    ("max_auth_tries", 0, "greater than or equal to 1"),
    ("proxy_protocol", "on", "'off', 'optional' or 'required'"),
    ("proxy_networks", ["10.0.0.5/24"], "has host bits set"),
    ("proxy_header_timeout_seconds", 0, "greater than 0"),
])
def test_bad_sftp_settings_are_named(key: str, value: object, says: str) -> None:
    problem = _problem({"sftp": {key: value}})
    assert f"sftp.{key}" in problem
    assert says in problem


@pytest.mark.parametrize("mode", ["optional", "required"])
def test_a_proxy_protocol_needs_the_balancers_named(mode: str) -> None:
    problem = _problem({"sftp": {"proxy_protocol": mode}})
    assert "sftp" in problem
    assert f"proxy_protocol = '{mode}' needs proxy_networks" in problem
    sftp = SftpSettings(proxy_protocol=mode, proxy_networks=("10.0.0.5/32",))
    assert sftp.proxy_protocol == mode
    assert SftpSettings().proxy_protocol == "off"  # off unless asked for


@pytest.mark.parametrize(("key", "value", "says"), [
    ("allowed_cidrs", ["192.0.2.0/24", "nonsense"], "not an address or CIDR block"),
    ("temp_name_patterns", ["inbox/*.part"], "file name pattern"),
    ("trigger_files", [".ready"], "must not start with '.'"),
    ("max_file_bytes", 0, "greater than or equal to 1"),
    ("max_sesions", 3, "unknown key"),
])
def test_bad_institution_intake_options_are_named(key: str, value: object, says: str) -> None:
    raw = {"institutions": {"state-u": {"password_hash": "$argon2id$x", key: value,
                                       "canvas": CANVAS}}}
    problem = _problem(raw)
    assert f"institutions.state-u.{key}" in problem
    assert says in problem


def _public(algorithm: str, key_size: int = 0) -> str:
    key = (asyncssh.generate_private_key(algorithm, key_size=key_size) if key_size
           else asyncssh.generate_private_key(algorithm))
    return key.export_public_key().decode().strip()


def test_modern_keys_parse() -> None:
    for line in (_public("ssh-ed25519"), _public("ecdsa-sha2-nistp384"),
                 _public("ssh-rsa", key_size=2048)):
        assert parse_authorized_key("k", line).public_data


@pytest.mark.parametrize(("line", "says"), [
    ("no-pty " + "ssh-ed25519 AAAA", "options before the key are not supported"),
    ("ssh-dss AAAAB3NzaC1kc3M", "expected a public key line"),
    ("ssh-ed25519 not-base64", "not an OpenSSH public key line"),
])
def test_unacceptable_key_lines_are_named(line: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_authorized_key("institutions.x.authorized_keys[0]", line)


def test_short_rsa_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="1024 bits; use at least 2048"):
        parse_authorized_key("k", _public("ssh-rsa", key_size=1024))
