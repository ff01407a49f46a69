"""Per-institution limits that span sessions: the pending-bytes quota and concurrent sessions.

Both are counted in memory (they describe live sessions); the quota's base, the bytes received
but not yet batched, is re-read from the store each time an upload opens, so it follows the
sorter without any coupling to it.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import Executor
from typing import Protocol

WARN_FRACTION = 0.8


def _gib(count: int) -> str:
    return f"{count / (1 << 30):.1f} GiB" if count >= 1 << 30 else f"{count / (1 << 20):.1f} MiB"


class Allowance:
    """An institution's quota of pending bytes: received-not-yet-batched plus being written.

    Thread-safe: writes claim on the event loop, completions release in worker threads.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._received = 0
        self._writing = 0

    def refresh(self, received: int, limit: int) -> None:
        """Take the store's current total of pending received bytes, and the current limit."""
        with self._lock:
            self._received = received
            self.limit = limit

    def claim(self, count: int) -> str | None:
        """Reserve ``count`` more bytes for an upload; return why not when over the quota."""
        with self._lock:
            if self._received + self._writing + count > self.limit:
                return (f"the institution's uploads waiting to be processed would exceed "
                        f"{_gib(self.limit)} (max_pending_bytes); wait until the pending "
                        "files have been processed, then upload again")
            self._writing += count
            return None

    def settle(self, count: int, *, received: bool) -> None:
        """An upload of ``count`` reserved bytes ended: received (they stay pending) or not."""
        with self._lock:
            self._writing -= count
            if received:
                self._received += count

    def warning(self, extra: int = 0) -> str | None:
        """A sentence for reports and logs when pending bytes (plus ``extra``, counted only
        for this sentence) reach 80% of the quota."""
        with self._lock:
            used = self._received + self._writing + extra
        return quota_warning(used, self.limit)


def quota_warning(used: int, limit: int) -> str | None:
    """The quota sentence for ``used`` pending bytes of ``limit``, or None below 80%."""
    if used < WARN_FRACTION * limit:
        return None
    return (f"Uploads waiting to be processed use {_gib(used)} of the {_gib(limit)} "
            "allowed (max_pending_bytes); at the limit further uploads are refused.")


class Sessions(Protocol):
    """Live SSH sessions per institution, for ``max_sessions``: this node's (SessionCount)
    or every node's (gateway.intake.shared_guard.SharedSessions)."""

    executor: Executor | None
    """Where callers on the event loop run enter and leave: None when the count is in
    memory (call them inline), else the count's own threads (the count is in the store, so
    each call is a round trip; its own threads, so a slow store or busy runners never hold
    up another's)."""

    def enter(self, institution: str, limit: int) -> bool:
        """Count one more session unless ``limit`` are already live; True when counted.
        Raises gateway.state.database.StoreUnavailable when the count is in an unreachable
        store."""
        ...

    def leave(self, institution: str) -> None:
        """A counted session ended."""
        ...


class SessionCount:
    """Live SSH sessions per institution, for ``max_sessions``."""

    executor: Executor | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: Counter[str] = Counter()

    def enter(self, institution: str, limit: int) -> bool:
        """Count one more session unless ``limit`` are already live; True when counted."""
        with self._lock:
            if self._live[institution] >= limit:
                return False
            self._live[institution] += 1
            return True

    def leave(self, institution: str) -> None:
        """A counted session ended."""
        with self._lock:
            self._live[institution] -= 1
