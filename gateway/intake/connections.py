"""Connection defences outside the credential check itself.

* :class:`Arrivals` counts the connections of each address that have not logged in yet: an
  address may hold at most ``limit`` of them (so it cannot pre-open connections to try
  passwords on later, or fill the server with half-open ones), and a ban closes them all,
  so connections opened before the ban cannot log in after it.
* :class:`IdleWatch` closes a logged-in connection that makes no SFTP request for its
  institution's idle timeout, whether or not it ever opened an SFTP session: an idle
  connection would otherwise hold one of the institution's ``max_sessions`` for good.

Both are used from the event loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from gateway.intake.bans import Network, address_in

MAX_WATCH_STEP = 30.0
"""Seconds between idleness checks at most: an idle connection is closed within this much
after its timeout (and within a quarter of the timeout for short ones)."""


class Arriving(Protocol):
    """A connection still logging in."""

    def shut_out(self, reason: str) -> None:
        """Disconnect, telling the client ``reason``."""


class Arrivals:
    """Connections not logged in yet, by address; ``exempt`` networks are not capped."""

    def __init__(self, limit: int, exempt: tuple[Network, ...] = ()) -> None:
        self.limit = limit
        self._exempt = exempt
        self._by_address: dict[str, set[Arriving]] = {}

    def arrive(self, address: str, connection: Arriving) -> bool:
        """Count ``connection`` for ``address``; False (not counted) when the address
        already has ``limit`` connections logging in."""
        if (len(self._by_address.get(address, ())) >= self.limit
                and not address_in(address, self._exempt)):
            return False
        self._by_address.setdefault(address, set()).add(connection)
        return True

    def leave(self, address: str, connection: Arriving) -> None:
        """``connection`` logged in or closed (calling this again changes nothing)."""
        waiting = self._by_address.get(address)
        if waiting is None:
            return
        waiting.discard(connection)
        if not waiting:
            del self._by_address[address]

    def shut_out(self, address: str, reason: str) -> int:
        """Disconnect every connection of ``address`` still logging in; return how many."""
        waiting = self._by_address.pop(address, set())
        for connection in waiting:
            connection.shut_out(reason)
        return len(waiting)


class IdleWatch:
    """Calls ``on_idle`` once when :meth:`touch` has not been called for ``timeout`` s."""

    def __init__(self, timeout: float, on_idle: Callable[[], None]) -> None:
        self.timeout = timeout
        self._on_idle = on_idle
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._task = self._loop.create_task(self._watch())

    def touch(self) -> None:
        """The connection did something: the idle time starts again."""
        self._last = self._loop.time()

    def stop(self) -> None:
        """The connection ended: stop watching."""
        self._task.cancel()

    async def _watch(self) -> None:
        step = max(0.1, min(self.timeout / 4, MAX_WATCH_STEP))
        while self._loop.time() - self._last < self.timeout:
            await asyncio.sleep(step)
        self._on_idle()
