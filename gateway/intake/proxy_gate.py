"""The SFTP listener behind a load balancer: each connection's PROXY header read before SSH.

asyncssh accepts its own connections unless ``listen`` is given a ``tunnel``: an object whose
``create_server(factory, host, port)`` listens instead.  :class:`ProxyTunnel` is that object.
It listens with a plain asyncio server whose protocol, a :class:`_Gate`, decides where each
connection comes from and then hands the transport to the SSH connection asyncssh built
(``transport.set_protocol``), so the gate costs nothing once SSH runs: reads go straight to
asyncssh, and only proxied connections write through a thin :class:`_ClientTransport` that
reports the client's address as the peer.

Who may send a header:

* a peer outside ``proxy_networks`` is a direct client.  Its SSH starts at once (as without
  a balancer: clients that wait for the server's banner still work) and its first bytes are
  checked: a PROXY header from it is never trusted; the connection is closed and logged.
* a peer inside ``proxy_networks`` (a balancer) must send a valid header first when the mode
  is ``required``; with ``optional`` it may send SSH at once, or nothing until the header
  timeout (a client waiting for the banner), and then it is its own client.  SSH bytes are
  never consumed while looking: they reach asyncssh intact.

A malformed, oversized or late header closes the connection with one ``PROXY header
refused`` log line naming the peer and what was wrong.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncssh

from gateway.intake.bans import Network, address_in
from gateway.intake.proxy_header import HeaderError, ProxyHeader, Sniffed, parse, sniff
from gateway.web.metrics import SFTP_PROXY_HEADERS_REFUSED

log = logging.getLogger(__name__)

ACCEPT_BACKLOG = 1024
"""Connections the kernel may queue for accepting (capped by ``net.core.somaxconn``).  A
balancer relays its clients' bursts unpaced: with asyncssh's default of 100, 500 sessions
opened at once through HAProxy lost 12 to 104 of them to server-side resets in 7 of 16
rounds of ``bench/proxy_sessions.py`` (the cause of resets rather than retried SYNs is not
understood); with 1024, none in 8 rounds."""

BALANCER = "balancer"
"""The extra-info key of a proxied connection's transport: the balancer's (host, port)."""


@dataclass(frozen=True)
class ProxyPolicy:
    """Which peers may send a PROXY header, whether they must, and how long it may take."""

    networks: tuple[Network, ...]
    required: bool
    timeout: float


class ProxyTunnel:
    """asyncssh's ``tunnel`` for :func:`asyncssh.listen`: listens with PROXY gates."""

    def __init__(self, policy: ProxyPolicy) -> None:
        self._policy = policy

    async def create_server(self, session_factory: Callable[[str, int], Any],
                            listen_host: str, listen_port: int) -> asyncssh.SSHListener:
        """Listen on ``listen_host:listen_port``; each connection's SSH side comes from
        ``session_factory`` (asyncssh's, which ignores the address it is given)."""
        gates: set[_Gate] = set()

        def new_gate() -> _Gate:
            return _Gate(self._policy, lambda: session_factory("", 0), gates)

        loop = asyncio.get_running_loop()
        server = await loop.create_server(new_gate, listen_host or None, listen_port,
                                          backlog=ACCEPT_BACKLOG)
        return GatedListener(server, gates)

    def close(self) -> None:
        """Nothing to close: the tunnel holds no connection of its own."""

    async def wait_closed(self) -> None:
        """Nothing to wait for (see :meth:`close`)."""


class GatedListener(asyncssh.SSHListener):
    """The listening socket; closing it also drops connections still sending a header."""

    def __init__(self, server: asyncio.Server, gates: set[_Gate]) -> None:
        super().__init__()
        self._server = server
        self._gates = gates

    def get_port(self) -> int:
        """The port listened on (useful when 0 was asked for)."""
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop accepting; abort connections whose SSH has not started."""
        self._server.close()
        for gate in list(self._gates):
            gate.abort()

    async def wait_closed(self) -> None:
        """Wait until the listening socket is closed."""
        await self._server.wait_closed()


class _Gate(asyncio.Protocol):
    """One connection until its SSH starts: where it comes from, and its header."""

    def __init__(self, policy: ProxyPolicy, open_ssh: Callable[[], Any],
                 gates: set[_Gate]) -> None:
        self._policy = policy
        self._open_ssh = open_ssh
        self._gates = gates
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._ssh: asyncio.Protocol | None = None
        """A direct client's SSH connection, started before its first bytes are checked."""
        self._timer: asyncio.TimerHandle | None = None
        self._peer: tuple[str, int] = ("?", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start SSH at once for a direct client; wait for a balancer's header."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = (str(peer[0]), int(peer[1])) if peer else self._peer
        if address_in(self._peer[0], self._policy.networks):
            self._gates.add(self)
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._policy.timeout, self._expired)
        else:
            self._ssh = self._start(transport)

    def data_received(self, data: bytes) -> None:
        """Look at the first bytes until they say header or SSH; act on it."""
        self._buffer += data
        seen = sniff(self._buffer)
        if seen is Sniffed.UNDECIDED:
            return
        if self._ssh is not None:  # a direct client: its SSH is running already
            if seen is Sniffed.HEADER:
                self._refuse("a PROXY header from an address outside proxy_networks")
            else:
                self._pass_on(self._ssh, self._buffer)
        elif seen is Sniffed.NOT_HEADER:
            if self._policy.required:
                self._refuse("no PROXY header (proxy_protocol is 'required')")
            else:
                self._hand_over(None, self._buffer)
        else:
            self._read_header()

    def _read_header(self) -> None:
        try:
            header = parse(self._buffer)
        except HeaderError as error:
            self._refuse(str(error))
            return
        if header is not None:
            self._hand_over(header, self._buffer[header.length:])

    def _expired(self) -> None:
        """The header timeout passed with too few bytes to decide."""
        if self._buffer:
            self._refuse(f"incomplete PROXY header after {self._policy.timeout:g} s")
        elif self._policy.required:
            self._refuse(f"no PROXY header within {self._policy.timeout:g} s")
        else:  # optional: a client that waits for the server's banner
            self._hand_over(None, b"")

    def _hand_over(self, header: ProxyHeader | None, rest: bytes) -> None:
        """Start SSH for a balancer's connection: as the client the header names, or as
        the TCP peer when it names none (LOCAL, UNKNOWN, no header)."""
        assert self._transport is not None
        self._settle()
        transport: asyncio.Transport = self._transport
        if header is not None and header.client is not None:
            transport = _ClientTransport(self._transport, header.client, self._peer)
        self._pass_on(self._start(transport), rest)

    def _start(self, transport: asyncio.Transport) -> asyncio.Protocol:
        ssh: asyncio.Protocol = self._open_ssh()
        ssh.connection_made(transport)
        return ssh

    def _pass_on(self, ssh: asyncio.Protocol, data: bytes) -> None:
        """From now on the transport talks to ``ssh`` directly; ``data`` is its first."""
        assert self._transport is not None
        self._transport.set_protocol(ssh)
        self._ssh = None
        if data and not self._transport.is_closing():
            ssh.data_received(data)

    def _refuse(self, reason: str) -> None:
        log.warning("PROXY header refused", extra={
            "peer": self._peer[0], "peer_port": self._peer[1], "reason": reason})
        SFTP_PROXY_HEADERS_REFUSED.inc()
        self.abort()

    def abort(self) -> None:
        """Close the connection at once (no SSH was spoken to a balancer's connection)."""
        self._settle()
        if self._transport is not None:
            self._transport.abort()

    def _settle(self) -> None:
        self._gates.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed before SSH took the transport over: end a direct client's SSH too."""
        self._settle()
        if self._ssh is not None:
            self._ssh.connection_lost(exc)
            self._ssh = None

    def eof_received(self) -> bool | None:
        """End of input before the first bytes were judged: close."""
        return False

    def pause_writing(self) -> None:
        """A direct client's SSH may fill the write buffer before its first bytes arrive."""
        if self._ssh is not None:
            self._ssh.pause_writing()

    def resume_writing(self) -> None:
        """See :meth:`pause_writing`."""
        if self._ssh is not None:
            self._ssh.resume_writing()


class _ClientTransport(asyncio.Transport):
    """A proxied connection's transport as SSH sees it: the client named by the header is
    the peer (``peername``), the balancer is ``balancer``; all else is the real transport."""

    def __init__(self, inner: asyncio.Transport, client: tuple[str, int],
                 balancer: tuple[str, int]) -> None:
        super().__init__()
        self._inner = inner
        self._addresses: dict[str, tuple[str, int]] = {"peername": client, BALANCER: balancer}

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The client and balancer addresses; everything else from the socket."""
        if name in self._addresses:
            return self._addresses[name]
        return self._inner.get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._inner.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._inner.writelines(list_of_data)

    def write_eof(self) -> None:
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def abort(self) -> None:
        self._inner.abort()

    def close(self) -> None:
        self._inner.close()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)
