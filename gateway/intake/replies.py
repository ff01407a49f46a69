"""One channel write for all the SFTP replies a session makes in one event-loop iteration.

A client uploading fast sends its WRITE requests in bursts (OpenSSH keeps 64 of 32 KiB in
flight); asyncssh answers each one at once with its own SSH packet, encrypted and sent with
its own ``send`` call, which cost the event loop more than a quarter of its time.  The SFTP
reply stream is a byte stream, so the replies of a burst can as well travel together: the
first reply of an iteration schedules a flush for the end of the iteration (``call_soon``:
after the session has answered every request already received), and the flush writes them
as one.  Requests are still answered in order.  The acknowledgements of WRITEs well into a
large upload (the caller says which: :meth:`ReplyBatch.hold_next`) may wait up to
``HOLD_SECONDS`` or ``HOLD_REPLIES`` replies for the next bursts: a streaming client has
megabytes in flight and keeps sending meanwhile, and every send on loopback also costs the
receiving side's TCP work.  Any other reply goes out at the end of its iteration, taking the
held ones with it, so opens, closes and small uploads are never delayed.

This replaces the ``write`` of the session's channel object (and flushes before its
``write_eof``, ``exit`` and ``close``), as the SFTP handler reaches the channel only through
those; asyncssh is pinned to a tested range and the intake tests pin this behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

_FLUSHED_FIRST = ("write_eof", "exit", "close")
HOLD_SECONDS = 0.002
HOLD_REPLIES = 32


class ReplyBatch:
    """The replies written to one SFTP channel, not yet passed on to it."""

    def __init__(self, chan: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._write: Callable[..., None] = chan.write
        self._parts: list[bytes] = []
        self._hold_next = False
        self._soon = False
        self._timer: asyncio.TimerHandle | None = None
        setattr(chan, "write", self.write)  # noqa: B010 - an instance attribute, on purpose
        for name in _FLUSHED_FIRST:
            setattr(chan, name, self._flushing_first(getattr(chan, name)))

    def hold_next(self) -> None:
        """The next reply acknowledges a WRITE of a large upload: it may be held a little."""
        self._hold_next = True

    def write(self, data: bytes, datatype: int | None = None) -> None:
        """Hold ``data`` for this iteration's flush, or a little longer if it is an
        acknowledgement :meth:`hold_next` announced (other data types go at once)."""
        if datatype is not None:
            self.flush()
            self._write(data, datatype)
            return
        self._parts.append(data)
        held, self._hold_next = self._hold_next, False
        if len(self._parts) >= HOLD_REPLIES:
            self.flush()
        elif held:
            if not self._soon and self._timer is None:
                self._timer = self._loop.call_later(HOLD_SECONDS, self.flush)
        elif not self._soon:
            self._soon = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Pass the held replies on to the channel as one write."""
        self._soon = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._parts:
            return
        data = b"".join(self._parts)
        self._parts.clear()
        with contextlib.suppress(BrokenPipeError):  # closed meanwhile: nobody to answer
            self._write(data)

    def _flushing_first(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def flushed_then(*args: Any, **kwargs: Any) -> Any:
            self.flush()
            return method(*args, **kwargs)

        return flushed_then
