"""The gateway's SSH host keys: configured files, or generated once into the data volume.

Vendors pin these fingerprints.  With ``[sftp] host_key_files`` (a secret mount shared by
every node behind one address) exactly those keys are served and nothing is generated: a
missing, unreadable, writable-by-others, encrypted or weak key stops the start with the file
and the fix named.  Otherwise keys are generated into ``<data_dir>/host-keys/``: a key is
never regenerated while its file exists, and two processes starting at once cannot end up
with different keys (the first file written wins).  Generated private keys are created mode
0600 from their first byte, never widened then narrowed.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import asyncssh

from gateway.intake.config import SftpSettings
from gateway.settings import ConfigError
from gateway.state.spool import fsync_directory, temp_path_for

log = logging.getLogger(__name__)

HOST_KEY_FILES = {"ssh-ed25519": "ssh_host_ed25519_key",
                  "ecdsa-sha2-nistp256": "ssh_host_ecdsa_key",
                  "ssh-rsa": "ssh_host_rsa_key"}
RSA_BITS = 3072
MIN_RSA_BITS = 2048
"""A configured RSA host key below this is refused (and it signs with SHA-2 only)."""
SERVED_ALGORITHMS = frozenset({"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                               "ecdsa-sha2-nistp521", "ssh-rsa"})


def server_host_keys(settings: SftpSettings, folder: Path) -> list[asyncssh.SSHKey]:
    """The keys the SFTP server presents: ``settings.host_key_files`` when configured
    (raises ConfigError naming the file and the fix), else the data dir's ``folder``'s,
    generated if missing."""
    if settings.host_key_files:
        return read_configured_keys(settings.host_key_files)
    return load_host_keys(folder)


def read_configured_keys(files: Sequence[Path]) -> list[asyncssh.SSHKey]:
    """Read operator-provided private host keys, never creating or changing a file.

    Raises ConfigError when a file is missing or unreadable, writable by group or others
    (anyone who can replace it can impersonate the gateway), not an unencrypted private key
    (the gateway starts unattended), of an algorithm not served, an RSA key under 2048
    bits, or a second key of an algorithm already given (a client would see only one).
    """
    keys: dict[str, asyncssh.SSHKey] = {}
    for path in files:
        key = _configured_key(path)
        algorithm = key.get_algorithm()
        if algorithm in keys:
            raise ConfigError(f"sftp.host_key_files: {path} is a second {algorithm} key; "
                              "give one key per algorithm")
        keys[algorithm] = key
    return list(keys.values())


def _configured_key(path: Path) -> asyncssh.SSHKey:
    where = f"sftp.host_key_files: {path}"
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{where}: cannot read it ({error.strerror or error}); mount the "
                          "key file readable by the gateway's user") from None
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"{where} is writable by group or others; make it 0600 or 0400")
    try:
        key = asyncssh.import_private_key(data)
    except asyncssh.KeyImportError as error:
        raise ConfigError(f"{where} is not an unencrypted private key in OpenSSH or PEM "
                          f"format ({error}); write it with ssh-keygen -N ''") from None
    algorithm = key.get_algorithm()
    if algorithm not in SERVED_ALGORITHMS:
        raise ConfigError(f"{where} is an {algorithm} key; use ed25519, ECDSA or RSA "
                          f"(at least {MIN_RSA_BITS} bits)")
    bits = getattr(key.pyca_key, "key_size", None)  # RSA and ECDSA keys have a size
    if algorithm == "ssh-rsa" and isinstance(bits, int) and bits < MIN_RSA_BITS:
        raise ConfigError(f"{where} is a {bits}-bit RSA key; use ed25519, ECDSA, or RSA of "
                          f"at least {MIN_RSA_BITS} bits")
    return key


def load_host_keys(folder: Path) -> list[asyncssh.SSHKey]:
    """Return the host keys in ``folder``, generating any that are missing."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = []
    for algorithm, filename in HOST_KEY_FILES.items():
        path = folder / filename
        if not path.exists():
            key = (asyncssh.generate_private_key(algorithm, key_size=RSA_BITS)
                   if algorithm == "ssh-rsa" else asyncssh.generate_private_key(algorithm))
            if _create_private(path, key.export_private_key()):
                log.info("host key generated", extra={"algorithm": algorithm,
                                                     "fingerprint": key.get_fingerprint()})
        keys.append(asyncssh.read_private_key(path))
    return keys


def fingerprints(keys: Sequence[asyncssh.SSHKey]) -> list[str]:
    """One line per host key: algorithm, SHA-256 fingerprint, and the public key line that
    goes into a client's known_hosts."""
    lines = []
    for key in keys:
        public = key.export_public_key().decode().strip()
        lines.append(f"{key.get_algorithm()}  {key.get_fingerprint('sha256')}  {public}")
    return lines


def known_hosts_lines(keys: Sequence[asyncssh.SSHKey], host: str, port: int) -> list[str]:
    """One ``known_hosts`` line per host key for clients reaching ``host`` on ``port``
    (OpenSSH writes ``[host]:port`` for any port but 22)."""
    name = host if port == 22 else f"[{host}]:{port}"
    return [f"{name} {key.export_public_key().decode().strip()}" for key in keys]


def _create_private(path: Path, data: bytes) -> bool:
    """Durably create ``path`` holding ``data``, mode 0600 from the start; False (and the
    existing file kept) when another process created it first."""
    temp = temp_path_for(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, path)  # unlike rename, never replaces a key another process wrote
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    fsync_directory(path.parent)
    return True
