"""Where the intake reaches into asyncssh's internals, each for a measured reason.

:func:`adapt_asyncssh` applies every adaptation (idempotent); the listener calls it before
listening.  Each one checks that the asyncssh code it replaces is still the code it was
written against and, if not, leaves asyncssh as it is and says so (a warning at start); the
intake tests fail then (tests/unit/intake/test_compat.py), so an asyncssh upgrade cannot
silently drop or break one.  asyncssh is pinned to a tested range besides.

1. Tolerance for a client bug asyncssh is strict about, so rclone works as with OpenSSH:
   rclone up to 1.62 (Debian 12 ships 1.60) uses pkg/sftp 1.13.5, whose concurrent uploads
   send WRITE packets carrying the whole 32 KiB buffer after a shorter data field.  OpenSSH's
   sftp-server ignores bytes after the data; asyncssh answers "Unexpected data at end of
   packet" and the upload fails.  :func:`tolerate_trailing_write_bytes` makes asyncssh's
   WRITE handler ignore them too: the data field (which the client's offsets follow) is what
   is written.  The rclone test pins this behaviour.
2. The bytes read from the socket are buffered without copying them over and over
   (:class:`InputBuffer`): the largest single cost of the event loop in an upload.
3. The packets sent in one event-loop iteration leave in one send (:class:`CorkedTransport`).
4. asyncssh's debug logging of every packet is skipped when nothing would be logged: it
   formatted its arguments (sizes, handles, packet names) for every packet, logged or not.
5. chacha20-poly1305 packets reuse one ChaCha20 stream per key, not three new ones each
   (:mod:`gateway.intake.chacha_packets`).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asyncssh import connection as asyncssh_connection
from asyncssh import logging as asyncssh_logging
from asyncssh import packet as asyncssh_packet
from asyncssh import sftp as asyncssh_sftp
from asyncssh.constants import FXP_WRITE
from asyncssh.packet import SSHPacket

from gateway.intake.chacha_packets import keep_chacha_streams

log = logging.getLogger(__name__)

_Handler = Callable[[Any, SSHPacket], Awaitable[Any]]
_FIELD = struct.Struct(">I")


def _data_end(packet: SSHPacket) -> int | None:
    """Where a WRITE packet's data field ends (from the handle field on), if it fits."""
    raw: bytes = packet._packet
    start: int = packet._idx
    try:
        (handle_length,) = _FIELD.unpack_from(raw, start)
        data_at = start + 4 + handle_length + 8
        (data_length,) = _FIELD.unpack_from(raw, data_at)
    except struct.error:
        return None
    return int(data_at + 4 + data_length)


def tolerate_trailing_write_bytes() -> None:
    """Make asyncssh's SFTP server ignore bytes after a WRITE's data (idempotent)."""
    handlers = cast(dict[object, _Handler],
                    asyncssh_sftp.SFTPServerHandler._packet_handlers)
    original = handlers[FXP_WRITE]
    if getattr(original, "tolerant", False):
        return

    async def process_write(handler: Any, packet: SSHPacket) -> Any:
        end = _data_end(packet)
        if end is not None and end < packet._len:
            packet._len = end
        return await original(handler, packet)

    process_write.tolerant = True  # type: ignore[attr-defined]
    handlers[FXP_WRITE] = process_write


class InputBuffer:
    """The bytes an asyncssh connection has read but not yet parsed (its ``_inpbuf``),
    without the copies of a ``bytes`` buffer.

    asyncssh appends each socket read to a ``bytes`` object (``buf += data``) and drops each
    parsed packet by slicing (``buf = buf[n:]``): both copy everything still buffered, so a
    256 KiB read holding eight 32 KiB packets was copied about five times over, the largest
    single cost of the event loop in an upload (a fifth of its time in ``memmove``).  This
    object answers the operations asyncssh applies to that buffer (``len``, truth, ``+=``,
    ``find``, slices) with one copy in and one copy out per byte.

    A slice to the end (``buf[n:]``) is a view sharing this object's storage: asyncssh
    always replaces its buffer with it, and the storage is compacted on the next ``+=``, so
    an older view must not be used after a newer one was appended to.  Other slices return
    ``bytes``.
    """

    __slots__ = ("_data", "_start")

    def __init__(self, data: bytes = b"", *, _shared: bytearray | None = None,
                 _start: int = 0) -> None:
        self._data = bytearray(data) if _shared is None else _shared
        self._start = _start

    def __len__(self) -> int:
        return len(self._data) - self._start

    def __bool__(self) -> bool:
        return len(self._data) > self._start

    def __iadd__(self, more: bytes) -> InputBuffer:
        if self._start:
            del self._data[:self._start]  # O(1) from the front of a bytearray
            self._start = 0
        self._data += more
        return self

    def __getitem__(self, key: slice) -> bytes | InputBuffer:
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError("an input buffer is sliced with step 1 only")
        if key.stop is None:
            return InputBuffer(_shared=self._data, _start=self._start + start)
        with memoryview(self._data) as view:  # released before the storage can resize
            return bytes(view[self._start + start:self._start + max(start, stop)])

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        """Like ``bytes.find``, counting from this buffer's first byte."""
        stop = len(self._data) if end is None else min(self._start + end, len(self._data))
        found = self._data.find(sub, self._start + start, stop)
        return found - self._start if found >= 0 else -1


def _buffered_data_received(conn: Any, data: bytes, _datatype: object = None) -> None:
    """``SSHServerConnection.data_received`` with an :class:`InputBuffer` (same steps)."""
    buffer = conn._inpbuf
    if not isinstance(buffer, InputBuffer):
        buffer = conn._inpbuf = InputBuffer(buffer)
    buffer += data
    conn._recv_data()


def buffer_connection_input() -> bool:
    """Make asyncssh's server connections buffer input in an :class:`InputBuffer`
    (idempotent).  Returns False, leaving asyncssh as it is, when its ``data_received`` is
    not the one this replaces (appends to ``_inpbuf``, then ``_recv_data``)."""
    server = asyncssh_connection.SSHServerConnection
    if server.data_received is _buffered_data_received:
        return True
    code = asyncssh_connection.SSHConnection.data_received.__code__
    if server.data_received is not asyncssh_connection.SSHConnection.data_received or \
            code.co_names != ("_inpbuf", "_recv_data"):
        return False
    setattr(server, "data_received", _buffered_data_received)  # noqa: B010
    return True



class CorkedTransport:
    """A connection's transport whose writes of one event-loop iteration go out in one send.

    asyncssh writes every SSH packet to its transport at once, and an idle asyncio transport
    sends at once: a syscall per packet, and every encrypted packet asyncssh sends is preceded
    by an empty MSG_IGNORE packet of its own, so each batch of SFTP replies cost two sends.
    On loopback a send also runs the receiving side's TCP path: the largest single cost left
    on the event loop in an upload.  Writes are held until the end of the iteration (as the
    SFTP replies themselves: see gateway.intake.replies) and passed on as one, in order;
    ``abort`` and ``close`` pass on what is held first, as a transport would have tried to
    send it already.  Everything else is the transport's own.
    """

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Hold ``data`` for this iteration's single write."""
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def flush(self) -> None:
        """Pass what is held on to the transport as one write."""
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            self._transport.write(data)

    def abort(self) -> None:
        """Pass on what is held, then abort the transport."""
        self.flush()
        self._transport.abort()

    def close(self) -> None:
        """Pass on what is held, then close the transport."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _corking_connection_made(conn: Any, transport: asyncio.BaseTransport) -> None:
    """``SSHServerConnection.connection_made``, then its transport corked."""
    _connection_made(conn, transport)
    if conn._transport is transport:
        conn._transport = CorkedTransport(transport, conn._loop)


_connection_made = asyncssh_connection.SSHConnection.connection_made


def cork_connection_output() -> bool:
    """Give asyncssh's server connections a :class:`CorkedTransport` (idempotent).  Returns
    False, leaving asyncssh as it is, when its connections do not keep their transport in
    ``_transport`` and send only through ``_send`` with its ``write``."""
    server = asyncssh_connection.SSHServerConnection
    if server.connection_made is _corking_connection_made:
        return True
    base = asyncssh_connection.SSHConnection
    if server.connection_made is not base.connection_made or \
            "_transport" not in base.connection_made.__code__.co_names or \
            base._send.__code__.co_names[:2] != ("_transport", "write") or \
            "_loop" not in base.__init__.__code__.co_names:
        return False
    setattr(server, "connection_made", _corking_connection_made)  # noqa: B010
    return True


def log_only_when_enabled() -> bool:
    """Make asyncssh format a log line's arguments only when the line will be logged, and
    skip its per-packet logging below its packet debug level (idempotent).  Returns False,
    leaving asyncssh as it is, when those methods are not the ones this wraps."""
    adapter = asyncssh_logging.SSHLogger
    packets = asyncssh_packet.SSHPacketLogger
    if getattr(adapter.log, "gated", False):
        return True
    if "_text" not in adapter.log.__code__.co_cellvars or \
            "packet" not in packets._log_packet.__code__.co_names or \
            not isinstance(getattr(adapter, "_debug_level", None), int):
        return False
    formatting_log = adapter.log
    packet_log = packets._log_packet

    def log(self: Any, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            formatting_log(self, level, msg, *args, **kwargs)

    def log_packet(self: Any, *args: Any) -> None:
        if adapter._debug_level >= 3:  # SSHLogger.packet logs nothing below level 3
            packet_log(self, *args)

    log.gated = True  # type: ignore[attr-defined]
    setattr(adapter, "log", log)  # noqa: B010
    setattr(packets, "_log_packet", log_packet)  # noqa: B010
    return True


def adapt_asyncssh() -> None:
    """Apply every adaptation (idempotent); warn about any that asyncssh's code refuses."""
    tolerate_trailing_write_bytes()
    for adaptation in (buffer_connection_input, cork_connection_output,
                       log_only_when_enabled, keep_chacha_streams):
        if not adaptation():
            log.warning("asyncssh's code differs from the version this gateway was tested "
                        "with; running without this adaptation",
                        extra={"adaptation": adaptation.__name__})
