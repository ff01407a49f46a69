"""Watching the cluster node lock: a node that lost it must stop.

The PostgreSQL server releases a session advisory lock when the session ends: if this
node's lock connection is cut (a database restart, a network partition, an idle timeout),
another node may start and take the database.  Until institutions are leased with fencing,
the only safe answer is to stop within a few seconds, before both forward.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway.runner import Runner
from gateway.state.postgres import NodeLock

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0


class NodeWatch(Runner):
    """Checks every ``CHECK_SECONDS`` that ``lock`` is still held; when it is not, logs why
    and calls ``on_lost`` (the daemon stops) once."""

    name = "node-watch"

    def __init__(self, lock: NodeLock, on_lost: Callable[[], None],
                 idle_seconds: float = CHECK_SECONDS) -> None:
        super().__init__(idle_seconds=idle_seconds)
        self._lock = lock
        self._on_lost = on_lost
        self._lost = False

    @property
    def lost(self) -> bool:
        """Whether the lock was found lost (the daemon then exits with an error)."""
        return self._lost

    def step(self) -> bool:
        """One check; False so the loop then waits ``idle_seconds``."""
        if not self._lost and not self._lock.held():
            self._lost = True
            log.error("lost the database's node lock: another gateway may take the database;"
                      " stopping this one")
            self._on_lost()
        return False
