"""Tolerance for a client bug asyncssh is strict about, so rclone works as with OpenSSH.

rclone up to 1.62 (Debian 12 ships 1.60) uses pkg/sftp 1.13.5, whose concurrent uploads send
WRITE packets carrying the whole 32 KiB buffer after a shorter data field.  OpenSSH's
sftp-server ignores bytes after the data; asyncssh answers "Unexpected data at end of packet"
and the upload fails.  :func:`tolerate_trailing_write_bytes` makes asyncssh's WRITE handler
ignore them too: the data field (which the client's offsets follow) is what is written.

This reaches into asyncssh's SFTP server internals (its handler table and its packet's
length); asyncssh is pinned to a tested range and the rclone test pins this behaviour.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asyncssh import sftp as asyncssh_sftp
from asyncssh.constants import FXP_WRITE
from asyncssh.packet import SSHPacket

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
