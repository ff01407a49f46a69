"""The SFTP intake's settings: the ``[sftp]`` listener section and each institution's intake
options (login sources, limits, temp names, trigger files, checksum sidecars).

Defaults are the production choices; every value is validated when the config is loaded, so
a mistake stops the gateway at start (or is refused by ``gateway reload``) with the key and
the fix.  ``gateway.settings`` builds the whole configuration from these models.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

GIB = 1 << 30

MODERN_KEX = (
    "mlkem768x25519-sha256", "curve25519-sha256", "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
    "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
)
"""Key exchanges the gateway can be configured to offer: no SHA-1, no group1, no 1024-bit RSA."""

MODERN_CIPHERS = (
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
    "aes128-ctr", "aes192-ctr", "aes256-ctr",
)
"""Ciphers the gateway can be configured to offer: AEAD and CTR only, never CBC or RC4."""

MODERN_MACS = (
    "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256", "hmac-sha2-512",
)
"""MACs (used only with CTR ciphers; AEAD ciphers carry their own): SHA-2 only."""

DEFAULT_CIPHERS = MODERN_CIPHERS
"""Every modern cipher, so every maintained client connects on its defaults: AES-GCM
(OpenSSH, PuTTY >= 0.76 and so WinSCP and FileZilla, Go's x/crypto/ssh, rclone, asyncssh,
paramiko >= 3.4), chacha20-poly1305 (OpenSSH's first choice; asyncssh negotiates strict key
exchange, which closes the Terrapin attack on it), and AES-CTR with a SHA-2 MAC for those that
know neither: libssh2 < 1.11 (Debian 12's curl, PHP's ssh2), the original JSch 0.1.55, older
SSH.NET.  The client's preference picks among them: OpenSSH clients pick chacha20 unless told
``-c aes128-gcm@openssh.com`` (see the benchmark in the README for what each costs)."""

DEFAULT_TEMP_NAMES = ("*.filepart", "*.part", "*.partial", "*.tmp", "*~", ".*")
"""Names clients upload to before renaming onto the final name (WinSCP, FileZilla, lftp,
editors' backup names, and the leading-dot convention)."""


class ConfigModel(BaseModel):
    """A config table: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_cidr(text: str) -> str:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an address or CIDR block like 192.0.2.0/24") from None
    host = text.split("/", maxsplit=1)[0].strip()
    if ipaddress.ip_address(host) != network.network_address:
        # 192.168.1.10/24 is most likely one host meant as a block, or a typo: ask.
        raise ValueError(f"{text!r} has host bits set: write {network} for the whole block, "
                         f"or {host}/{network.max_prefixlen} (or just {host}) for one host")
    return text


Cidr = Annotated[str, AfterValidator(_check_cidr)]


def _check_pattern(text: str) -> str:
    if not text or "/" in text or any(ord(char) < 32 for char in text):
        raise ValueError(f"{text!r} must be a file name pattern like '*.part' (no '/')")
    fnmatch.translate(text)
    return text


NamePattern = Annotated[str, AfterValidator(_check_pattern)]


def _allowed(kind: str, offered: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in offered if name not in allowed]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a modern {kind} the gateway offers; "
                         f"choose from {', '.join(allowed)}")
    if not offered:
        raise ValueError(f"offer at least one {kind}")
    return offered


class ProxyProtocol(StrEnum):
    """Whether the SFTP listener reads a PROXY protocol header from its load balancers."""

    OFF = "off"
    """Every peer is the client (no balancer, or one that does not speak PROXY)."""
    OPTIONAL = "optional"
    """Peers in ``proxy_networks`` may send a header; without one they are the client."""
    REQUIRED = "required"
    """Peers in ``proxy_networks`` must send a header first."""


class SftpSettings(ConfigModel):
    """The SFTP listener, its algorithms and its defences (``[sftp]``)."""

    host: str = "0.0.0.0"  # noqa: S104 - an appliance listens on all interfaces by default
    port: int = Field(default=2222, ge=1, le=65535)
    kex_algs: tuple[str, ...] = MODERN_KEX
    encryption_algs: tuple[str, ...] = DEFAULT_CIPHERS
    mac_algs: tuple[str, ...] = MODERN_MACS
    max_auth_tries: int = Field(default=6, ge=1, le=100)
    login_timeout_seconds: float = Field(default=60.0, gt=0.0, le=3600.0)
    max_unauthenticated_per_address: int = Field(default=10, ge=1, le=100_000)
    password_check_threads: int = Field(default=2, ge=1, le=64)
    password_checks_waiting: int = Field(default=32, ge=2, le=10_000)
    """At least 2: a username with one check waiting can then still displace another's
    second (see gateway.intake.passwords.FairQueue)."""
    ban_failures: int = Field(default=10, ge=1, le=10_000)
    ban_window_seconds: float = Field(default=600.0, gt=0.0)
    ban_seconds: float = Field(default=900.0, gt=0.0)
    ban_max_seconds: float = Field(default=86400.0, gt=0.0)
    safelist: tuple[Cidr, ...] = ()
    shutdown_grace_seconds: float = Field(default=5.0, ge=0.0, le=300.0)
    host_key_files: tuple[Path, ...] = ()
    """Private host key files to serve (a secret mount, the same on every node behind one
    address); empty: keys generated once into the data dir.  Configured keys are never
    generated, replaced or widened (see gateway.intake.hostkeys)."""
    proxy_protocol: ProxyProtocol = ProxyProtocol.OFF
    proxy_networks: tuple[Cidr, ...] = ()
    """The load balancers allowed to send a PROXY header; everyone else is a direct client."""
    proxy_header_timeout_seconds: float = Field(default=5.0, gt=0.0, le=60.0)

    @model_validator(mode="after")
    def _proxies_named(self) -> SftpSettings:
        if self.proxy_protocol is not ProxyProtocol.OFF and not self.proxy_networks:
            raise ValueError(
                f"proxy_protocol = '{self.proxy_protocol}' needs proxy_networks: list the "
                "load balancers' addresses (like [\"10.0.0.5/32\"]) allowed to send a PROXY "
                "header; nobody else may")
        return self

    @field_validator("kex_algs")
    @classmethod
    def _check_kex(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _allowed("key exchange", value, MODERN_KEX)

    @field_validator("encryption_algs")
    @classmethod
    def _check_ciphers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _allowed("cipher", value, MODERN_CIPHERS)

    @field_validator("mac_algs")
    @classmethod
    def _check_macs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _allowed("MAC", value, MODERN_MACS)


class IntakeOptions(ConfigModel):
    """An institution's intake options (keys of ``[institutions.<name>]``)."""

    allowed_cidrs: tuple[Cidr, ...] = ()
    max_file_bytes: int = Field(default=4 * GIB, ge=1)
    max_pending_bytes: int = Field(default=20 * GIB, ge=1)
    max_sessions: int = Field(default=8, ge=1, le=1000)
    idle_timeout_seconds: float = Field(default=600.0, gt=0.0, le=86400.0)
    temp_name_patterns: tuple[NamePattern, ...] = DEFAULT_TEMP_NAMES
    trigger_files: tuple[NamePattern, ...] = ()
    checksum_sidecars: bool = False

    @field_validator("trigger_files")
    @classmethod
    def _triggers_are_final_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if pattern.startswith("."):
                raise ValueError(f"{pattern!r}: a trigger name must not start with '.' "
                                 "(leading-dot names are temporary names)")
        return value
