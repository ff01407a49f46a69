"""The PROXY gate on real loopback sockets, with a recording protocol in asyncssh's place: the
SSH side sees the header's client as its peer and exactly the bytes after the header, however
the header is split; a header from outside proxy_networks never reaches it."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from gateway.intake.bans import networks
from gateway.intake.proxy_gate import BALANCER, ProxyPolicy, ProxyTunnel
from gateway.intake.proxy_header import V2_SIGNATURE

SSH = b"SSH-2.0-Client_1.0\r\n"
BALANCER_NET = "127.0.0.1/32"


@dataclass(eq=False)
class Recorder(asyncio.Protocol):
    """Stands in for asyncssh's connection: records what it is given."""

    peers: list[tuple[str, int]] = field(default_factory=list)
    balancers: list[tuple[str, int] | None] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.peers.append(transport.get_extra_info("peername")[:2])
        self.balancers.append(transport.get_extra_info(BALANCER))
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"SSH-2.0-Server\r\n")  # as asyncssh sends its version at once

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


async def _serve(required: bool, recorder: Recorder) -> tuple[int, ProxyTunnel]:
    """Listen with the gate on a free port; 127.0.0.1 is the balancer."""
    tunnel = ProxyTunnel(ProxyPolicy(networks([BALANCER_NET]), required, timeout=5.0))
    listener = await tunnel.create_server(lambda _host, _port: recorder, "127.0.0.1", 0)
    return listener.get_port(), tunnel


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` for up to 5 s (failing with ``what``)."""
    try:
        async with asyncio.timeout(5):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def v2_tcp4(source: bytes, port: int) -> bytes:
    body = source + bytes([10, 0, 0, 1]) + struct.pack("!HH", port, 2222) + b"\x04\x00\x01x"
    return V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(body)) + body


async def _a_header_split_byte_by_byte_gives_ssh_the_client(header: bytes) -> None:
    recorder = Recorder()
    port, _ = await _serve(True, recorder)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for byte in header:  # each in its own segment, as a slow balancer might
        writer.write(bytes([byte]))
        await writer.drain()
    writer.write(SSH)
    await _until(lambda: bytes(recorder.data) == SSH, "the SSH bytes")
    assert recorder.peers == [("192.0.2.7", 51000)]
    [balancer] = recorder.balancers
    assert balancer is not None
    assert balancer[0] == "127.0.0.1"
    assert await reader.readexactly(8) == b"SSH-2.0-"
    writer.close()
    await _until(recorder.lost.is_set, "the SSH side to hear the close")

@pytest.mark.parametrize("header", [
    b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 2222\r\n",
    v2_tcp4(bytes([192, 0, 2, 7]), 51000),
])
def test_a_header_split_byte_by_byte_gives_ssh_the_client(header: bytes) -> None:
    asyncio.run(_a_header_split_byte_by_byte_gives_ssh_the_client(header))


async def _header_and_ssh_in_one_segment() -> None:
    recorder = Recorder()
    port, _ = await _serve(True, recorder)
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(v2_tcp4(bytes([198, 51, 100, 1]), 7) + SSH + b"more")
    await _until(lambda: bytes(recorder.data) == SSH + b"more", "the SSH bytes")
    assert recorder.peers == [("198.51.100.1", 7)]
    writer.close()

def test_header_and_ssh_in_one_segment() -> None:
    asyncio.run(_header_and_ssh_in_one_segment())


async def _a_header_from_outside_proxy_networks_never_reaches_ssh() -> None:
    recorder = Recorder()
    port, _ = await _serve(False, recorder)
    reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                   local_addr=("127.0.0.2", 0))
    assert await reader.readexactly(8) == b"SSH-2.0-"  # a direct client: SSH at once
    writer.write(b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 2222\r\n" + SSH)
    try:
        rest = await reader.read()  # the rest of the server's banner, then the close
    except ConnectionResetError:
        rest = b""  # closed with the client's bytes unread: a reset
    assert rest in (b"Server\r\n", b"")
    await _until(recorder.lost.is_set, "the SSH side to hear the close")
    assert recorder.peers[0][0] == "127.0.0.2"
    assert recorder.data == b""

def test_a_header_from_outside_proxy_networks_never_reaches_ssh() -> None:
    asyncio.run(_a_header_from_outside_proxy_networks_never_reaches_ssh())


async def _a_direct_client_without_a_header_gets_every_byte() -> None:
    recorder = Recorder()
    port, _ = await _serve(True, recorder)
    _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.3", 0))
    writer.write(b"S")  # one byte decides: not a header
    writer.write(SSH[1:])
    await _until(lambda: bytes(recorder.data) == SSH, "the SSH bytes")
    assert recorder.peers[0][0] == "127.0.0.3"
    assert recorder.balancers == [None]
    writer.close()

def test_a_direct_client_without_a_header_gets_every_byte() -> None:
    asyncio.run(_a_direct_client_without_a_header_gets_every_byte())
