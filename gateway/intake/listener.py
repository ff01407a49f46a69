"""The SFTP listener: algorithms, the asyncssh server, and a graceful stop.

Only modern algorithms are offered (see gateway.intake.config); host keys sign with SHA-2
only.  Nothing but SFTP is served: no shell, exec, legacy scp, forwarding, agent or X11.

Behind a load balancer (``proxy_protocol``), connections are accepted by
:class:`gateway.intake.proxy_gate.ProxyTunnel`, which reads the balancer's PROXY header and
hands each connection to asyncssh with the client's address as its peer.

Stopping: stop accepting, let uploads whose CLOSE is being completed finish (bounded by
``shutdown_grace_seconds``), then close every connection.  Uploads still being written are
discarded as the sessions end; their clients were never told they were received.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncssh

from gateway.intake.auth import GatewaySSHServer, Guard
from gateway.intake.bans import networks
from gateway.intake.compat import adapt_asyncssh
from gateway.intake.config import ProxyProtocol, SftpSettings
from gateway.intake.hostkeys import server_host_keys
from gateway.intake.proxy_gate import ProxyPolicy, ProxyTunnel
from gateway.intake.session import IntakeServices, UploadSession
from gateway.intake.sftp import InstitutionSFTPServer
from gateway.settings import ConfigError
from gateway.state.shelf import Shelf
from gateway.state.spool import Spool

log = logging.getLogger(__name__)

__all__ = ["SIGNATURE_ALGS", "IntakeListener"]

SIGNATURE_ALGS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                  "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256")
"""Host key and client key signatures: no ssh-rsa (SHA-1), no DSA."""
CHANNEL_PACKET_BYTES = 240 << 10
"""The largest channel data packet a client may send (asyncssh's default is 32 KiB, as
OpenSSH's): a fast client fills its packets, and every packet costs the event loop the same
Python work (decrypt call, packet and channel bookkeeping) whatever its size.  Below OpenSSH's
256 KiB limit on a whole packet, so every client can send packets this large."""
RESPONSE_FLUSH_SECONDS = 0.2
"""After the last completion, time for its SFTP answer to reach the socket before close."""


class IntakeListener:
    """The running SFTP server; :meth:`stop` ends it gracefully."""

    def __init__(self, settings: SftpSettings, spool: Spool, guard: Guard,
                 services: IntakeServices, shelf: Shelf) -> None:
        self._settings = settings
        self._spool = spool
        self._shelf = shelf
        self._reads = ThreadPoolExecutor(4, thread_name_prefix="shelf-reads")
        """What vendors read (/reports, /outbox): threads of its own, so a slow bucket
        delays those reads only, never the runners or logins on the default pool."""
        self._guard = guard
        self._services = services
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self.connections: set[GatewaySSHServer] = set()

    async def start(self) -> int:
        """Listen; return the port (useful when the configured port is 0)."""
        settings = self._settings
        adapt_asyncssh()
        try:
            self._acceptor = await self._listen()
        except OSError as error:  # the port is taken, or not ours to bind
            raise ConfigError(f"sftp: cannot listen on {settings.host}:{settings.port}: "
                              f"{os.strerror(error.errno) if error.errno else error}") from None
        return self._acceptor.get_port()

    async def _listen(self) -> asyncssh.SSHAcceptor:
        settings = self._settings
        return await asyncssh.listen(
            settings.host, settings.port, tunnel=_tunnel(settings),
            server_host_keys=server_host_keys(settings, self._spool.host_keys),
            server_factory=self._new_connection, sftp_factory=self._new_session,
            kex_algs=list(settings.kex_algs), encryption_algs=list(settings.encryption_algs),
            mac_algs=list(settings.mac_algs), signature_algs=list(SIGNATURE_ALGS),
            compression_algs=["none"], max_pktsize=CHANNEL_PACKET_BYTES,
            allow_scp=False,  # scp over the SFTP protocol works; legacy scp is not offered
            agent_forwarding=False, allow_pty=False, x11_forwarding=False,
            process_factory=None, login_timeout=settings.login_timeout_seconds,
            keepalive_interval=30, keepalive_count_max=4,
        )

    def _new_connection(self) -> GatewaySSHServer:
        server = GatewaySSHServer(self._guard, on_lost=self.connections.discard)
        self.connections.add(server)
        return server

    def _new_session(self, chan: asyncssh.SSHServerChannel[Any]) -> InstitutionSFTPServer:
        owner = chan.get_connection().get_owner()
        assert isinstance(owner, GatewaySSHServer)
        institution = owner.institution
        assert institution is not None  # sessions open only after authentication
        session = UploadSession(institution.name, institution.intake, self._services,
                                log_fields=owner.fields)
        return InstitutionSFTPServer(chan, home=os.fsencode(self._spool.home(institution.name)),
                                     session=session, shelf=self._shelf, reads=self._reads,
                                     touch=owner.touch)

    async def stop(self, grace: float) -> None:
        """Stop accepting, let completing uploads finish (up to ``grace`` s), close the rest."""
        if self._acceptor is not None:
            self._acceptor.close()
        receiver = self._services.receiver
        if not await receiver.drain(grace):
            log.warning("stopping with uploads still being completed; their clients were "
                        "not told they were received and will upload them again")
        await asyncio.sleep(RESPONSE_FLUSH_SECONDS)
        for server in list(self.connections):
            server.close()
        await _wait_until(lambda: not self.connections, timeout=2.0)
        self._reads.shutdown(wait=False, cancel_futures=True)
        log.info("SFTP stopped")


def _tunnel(settings: SftpSettings) -> ProxyTunnel | tuple[()]:
    """The PROXY-reading acceptor when a balancer speaks it; else asyncssh's own (``()``)."""
    if settings.proxy_protocol is ProxyProtocol.OFF:
        return ()
    return ProxyTunnel(ProxyPolicy(
        networks=networks(settings.proxy_networks),
        required=settings.proxy_protocol is ProxyProtocol.REQUIRED,
        timeout=settings.proxy_header_timeout_seconds))


async def _wait_until(condition: Callable[[], bool], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.05)
