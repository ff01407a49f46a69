"""The SFTP listener: host keys kept in the data volume, and the asyncssh server itself."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import asyncssh

from gateway.intake.auth import Accounts, GatewaySSHServer
from gateway.intake.receiving import Receiver
from gateway.intake.sftp import InstitutionSFTPServer
from gateway.state.spool import Spool, publish_bytes

log = logging.getLogger(__name__)

HOST_KEY_FILES = {"ssh-ed25519": "ssh_host_ed25519_key",
                  "ecdsa-sha2-nistp256": "ssh_host_ecdsa_key"}


def load_host_keys(folder: Path) -> list[asyncssh.SSHKey]:
    """Return the host keys in ``folder``, generating any that are missing.

    Keys are generated once and reused for the life of the data volume, so the fingerprints
    vendors pin stay valid across restarts and upgrades.
    """
    keys = []
    for algorithm, filename in HOST_KEY_FILES.items():
        path = folder / filename
        if not path.exists():
            key = asyncssh.generate_private_key(algorithm)
            publish_bytes(path, key.export_private_key())
            path.chmod(0o600)
            log.info("generated host key %s", key.get_fingerprint())
        keys.append(asyncssh.read_private_key(path))
    return keys


async def start_sftp(*, host: str, port: int, spool: Spool, accounts: Accounts,
                     receiver: Receiver) -> asyncssh.SSHAcceptor:
    """Listen for SFTP on ``host:port``; returns the acceptor (``close()`` stops it)."""

    def sftp_factory(chan: asyncssh.SSHServerChannel[Any]) -> InstitutionSFTPServer:
        username = chan.get_extra_info("username")
        institution = accounts.by_username[username]
        return InstitutionSFTPServer(chan, institution=institution.name, spool=spool,
                                     receiver=receiver)

    return await asyncssh.listen(
        host, port,
        server_host_keys=load_host_keys(spool.host_keys),
        server_factory=lambda: GatewaySSHServer(accounts),
        sftp_factory=sftp_factory,
        allow_scp=False,  # scp over the SFTP protocol works; legacy scp is not offered
        # An SFTP appliance offers no shell, exec, forwarding or agent.
        agent_forwarding=False, allow_pty=False, x11_forwarding=False,
        process_factory=None,
        login_timeout=60, keepalive_interval=30,
    )
