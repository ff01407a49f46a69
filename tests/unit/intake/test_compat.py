"""The asyncssh adaptations: each applies to the installed asyncssh (so an upgrade that changes
the code underneath fails here, not silently in production), the input buffer answers
asyncssh's operations exactly as the ``bytes`` it replaces, and a real asyncssh connection
carries data intact through it; logs asyncssh would write are still written."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncssh
import pytest
from asyncssh import connection as asyncssh_connection
from asyncssh.logging import SSHLogger

from gateway.intake import chacha_packets, compat
from gateway.intake.compat import CorkedTransport, InputBuffer


def test_every_adaptation_applies_to_the_installed_asyncssh() -> None:
    compat.adapt_asyncssh()
    assert compat.buffer_connection_input()
    assert compat.log_only_when_enabled()
    assert compat.cork_connection_output()
    assert chacha_packets.keep_chacha_streams()
    # Idempotent: applying again wraps nothing twice.
    compat.adapt_asyncssh()
    server = asyncssh_connection.SSHServerConnection
    assert server.data_received is compat._buffered_data_received


def test_input_buffer_answers_like_bytes() -> None:
    """A random mix of asyncssh's operations on the buffer: appends, prefix and range
    slices, the suffix slice that replaces it, ``find``, ``len`` and truth."""
    rng = random.Random(13)
    reference, buffer = b"", InputBuffer()
    for _ in range(3000):
        roll = rng.random()
        if roll < 0.3:
            more = os.urandom(rng.randrange(0, 70_000))
            reference += more
            buffer += more
        elif roll < 0.6:
            cut = rng.randrange(0, len(reference) + 2)
            reference, after = reference[cut:], buffer[cut:]
            assert isinstance(after, InputBuffer)
            buffer = after
        elif roll < 0.8:
            start = rng.randrange(0, len(reference) + 2)
            stop = rng.randrange(0, len(reference) + 2)
            assert buffer[start:stop] == reference[start:stop]
            assert buffer[:stop] == reference[:stop]
        else:
            assert buffer.find(b"\n", 0, 255) == reference.find(b"\n", 0, 255)
        assert len(buffer) == len(reference)
        assert bool(buffer) == bool(reference)


def test_a_suffix_is_a_view_not_a_copy() -> None:
    buffer = InputBuffer(b"x" * 100)
    rest = buffer[40:]
    assert isinstance(rest, InputBuffer)
    assert rest._data is buffer._data
    assert rest[:3] == b"xxx"
    with pytest.raises(ValueError, match="step 1"):
        buffer[::2]


@asynccontextmanager
async def digest_server() -> AsyncIterator[int]:
    """A real asyncssh server on loopback whose sessions answer with the SHA-256 of what they
    read (password ``pw`` for anyone), with the gateway's adaptations applied, or with "not
    buffered" when its connection's input is not an InputBuffer or its output not corked."""
    compat.adapt_asyncssh()

    async def digest(process: asyncssh.SSHServerProcess[bytes]) -> None:
        sha = hashlib.sha256()
        while chunk := await process.stdin.read(1 << 20):
            sha.update(chunk)
        conn = process.channel.get_connection()
        buffered = isinstance(conn._inpbuf, InputBuffer) and \
            isinstance(conn._transport, CorkedTransport)
        process.stdout.write(sha.hexdigest().encode() if buffered else b"not buffered")
        process.exit(0)

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return password == "pw"

    server = await asyncssh.listen("127.0.0.1", 0, server_factory=Server,
                                   server_host_keys=[asyncssh.generate_private_key(
                                       "ssh-ed25519")],
                                   process_factory=digest, encoding=None)
    try:
        yield server.get_port()
    finally:
        server.close()
        await server.wait_closed()


async def send_through(cipher: str, payload: bytes) -> str:
    """Send ``payload`` in writes of many sizes to the digest server; return its answer."""
    async with digest_server() as port, asyncssh.connect(
            "127.0.0.1", port, username="u", password="pw", known_hosts=None,
            encryption_algs=[cipher], client_keys=None, agent_path=None) as conn:
        process = await conn.create_process(encoding=None)
        rng, sent = random.Random(7), 0
        while sent < len(payload):
            size = rng.choice([1, 17, 4096, 32_768, 200_000, 1 << 20])
            process.stdin.write(payload[sent:sent + size])
            sent += size
            await process.stdin.drain()
        process.stdin.write_eof()
        answer = await asyncio.wait_for(process.stdout.read(), 60)
        await process.wait()
    assert isinstance(answer, bytes)
    return answer.decode()


@pytest.mark.parametrize("cipher", ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com",
                                    "aes256-ctr"])
def test_a_real_connection_carries_data_intact(cipher: str) -> None:
    """Many packets of many sizes through the buffered input, under each kind of cipher
    (AEAD with its length in clear, encrypted length, separate MAC)."""
    payload = os.urandom(9 << 20)
    assert asyncio.run(send_through(cipher, payload)) == hashlib.sha256(payload).hexdigest()


class RecordingTransport:
    """Stands in for a socket transport: records what reaches it, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def abort(self) -> None:
        self.calls.append(("abort", b""))

    def close(self) -> None:
        self.calls.append(("close", b""))

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


def test_writes_of_one_iteration_go_out_as_one() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        real = RecordingTransport()
        corked = CorkedTransport(real, asyncio.get_running_loop())
        corked.write(b"ignore-packet|")
        corked.write(b"reply")
        assert real.calls == []  # held until the end of the iteration
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        corked.write(b"later")
        corked.abort()  # what is held goes first, as a transport would have sent it
        assert corked.get_extra_info("peername") == "info peername"
        return real.calls

    assert asyncio.run(scenario()) == [("write", b"ignore-packet|reply"), ("write", b"later"),
                                       ("abort", b"")]


def test_logs_still_written_when_enabled(caplog: pytest.LogCaptureFixture) -> None:
    compat.log_only_when_enabled()
    logger = SSHLogger(logging.getLogger("asyncssh.test_compat"))
    with caplog.at_level(logging.DEBUG, logger="asyncssh.test_compat"):
        logger.debug1("received %s for %s", b"data", "handle")
    assert "received data for handle" in caplog.text


def test_arguments_not_formatted_when_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The point of the gate: asyncssh's argument formatting (here one that would fail) is
    not run for a line below the logger's level."""
    compat.log_only_when_enabled()

    class Unprintable:
        def __str__(self) -> str:
            raise AssertionError("formatted although not logged")

    logger = SSHLogger(logging.getLogger("asyncssh.test_compat"))
    arg: Any = Unprintable()
    with caplog.at_level(logging.WARNING, logger="asyncssh.test_compat"):
        logger.debug1("never %s", arg)
    assert caplog.text == ""
