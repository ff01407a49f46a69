"""The base loop of the queue runners: find work, do it, record it; sleep when there is none.

A runner's :meth:`Runner.step` does one round of work in a worker thread (it may block on
SQLite, files or the network) and says whether it did anything.  The loop runs rounds back to
back while there is work, otherwise sleeps until its interval passes or another component
calls :meth:`Runner.wake` (an upload arrived, a batch became ready), so work moves on within
milliseconds without busy polling.  An exception in a round is logged and the loop goes on:
state lives in the store, so the next round picks up where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from concurrent.futures import Future, wait
from contextlib import AbstractContextManager
from typing import Any, Protocol

log = logging.getLogger(__name__)

class Holdings(Protocol):
    """The institutions this node acts for now (cluster mode: its lease book,
    ``gateway.state.leases.LeaseBook``)."""

    def holds(self, institution: str) -> bool:
        """Whether to start work for ``institution`` now."""
        ...

    def acting(self, institution: str) -> AbstractContextManager[object]:
        """Pin what this node holds ``institution`` under now, for work decided now; enter
        it where that work runs (any thread): its writes are fenced by the pinned epoch,
        so work begun before a loss and a re-acquisition cannot land under the new one."""
        ...


class EveryInstitution:
    """One machine: every institution is always held; nothing to pin."""

    def holds(self, institution: str) -> bool:
        return True

    def acting(self, institution: str) -> AbstractContextManager[object]:
        return contextlib.nullcontext()


EVERY_INSTITUTION = EveryInstitution()


class Runner(ABC):
    """A named background loop driven by :meth:`run` until :meth:`stop`."""

    name = "runner"

    def __init__(self, idle_seconds: float) -> None:
        self._idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @abstractmethod
    def step(self) -> bool:
        """Do one round of work (in a worker thread); return True if anything was done."""

    def wake(self) -> None:
        """Ask for a round soon.  Safe from any thread, and before the loop has started."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        """Ask the loop to end after the current round (call from the event loop thread)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Run rounds until stopped."""
        self._loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            try:
                busy = await asyncio.to_thread(self.step)
            except Exception:
                log.exception("round failed; retrying", extra={"runner": self.name})
                busy = False
            if busy or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._idle_seconds)


def wait_idle(lock: threading.Lock, busy: Mapping[str, Future[Any]]) -> None:
    """Wait until ``busy`` (work under way per institution, guarded by ``lock``) is empty;
    the work logs its own errors, so they are not raised here."""
    while True:
        with lock:
            pending = list(busy.values())
        if not pending:
            return
        wait(pending)  # a cancelled one counts as done, raises nothing
