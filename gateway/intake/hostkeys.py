"""The gateway's SSH host keys: generated once into the data volume, reused forever.

Vendors pin these fingerprints, so a key is never regenerated while its file exists, and two
processes starting at once cannot end up with different keys (the first file written wins).
Private keys are created mode 0600 from their first byte, never widened then narrowed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import asyncssh

from gateway.state.spool import fsync_directory, temp_path_for

log = logging.getLogger(__name__)

HOST_KEY_FILES = {"ssh-ed25519": "ssh_host_ed25519_key",
                  "ecdsa-sha2-nistp256": "ssh_host_ecdsa_key",
                  "ssh-rsa": "ssh_host_rsa_key"}
RSA_BITS = 3072


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


def fingerprints(folder: Path) -> list[str]:
    """One line per host key: algorithm, SHA-256 fingerprint, and the public key line that
    goes into a client's known_hosts.  Keys are generated if missing."""
    lines = []
    for key in load_host_keys(folder):
        public = key.export_public_key().decode().strip()
        lines.append(f"{key.get_algorithm()}  {key.get_fingerprint('sha256')}  {public}")
    return lines


def known_hosts_lines(folder: Path, host: str, port: int) -> list[str]:
    """One ``known_hosts`` line per host key for clients reaching ``host`` on ``port``
    (OpenSSH writes ``[host]:port`` for any port but 22)."""
    name = host if port == 22 else f"[{host}]:{port}"
    return [f"{name} {key.export_public_key().decode().strip()}"
            for key in load_host_keys(folder)]


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
