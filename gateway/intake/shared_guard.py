"""Bans and ``max_sessions`` shared by the nodes of a cluster, through the store
(gateway.state.guard_rows).  One machine uses BanList and SessionCount instead.

The cost per connection stays low: whether an address is banned is answered from memory
(this node's bans, and every node's as of the last exchange); failed logins and new bans
are queued and written, and the others' read back, by one thread every ``sync_seconds``
(:class:`GuardSync`), so a ban on one node holds on the others within that period and
failures on every node count toward one.  A session is counted in the store at login and
uncounted at logout (one round-trip each); the thread keeps this node's sessions from
expiring, so a dead node's stop counting ``expiry_seconds`` after it stopped.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

from gateway.intake.bans import BanList, BanPolicy, address_in
from gateway.state.guard_rows import Ban, GuardRows, SharedView

log = logging.getLogger(__name__)

SYNC_SECONDS = 1.0
EXPIRY_SECONDS = 30.0
MAX_QUEUED = 10_000
"""Failures waiting for the next exchange at most (a flood is banned locally anyway)."""


class SharedBans:
    """Bans every node sees; this node's failures decide, counting the others'."""

    def __init__(self, rows: GuardRows, policy: BanPolicy, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self._rows = rows
        self._clock = clock
        self._local = BanList(policy, clock)  # event loop only
        self._lock = threading.Lock()  # the queues and view: event loop and GuardSync
        self._view = SharedView()
        self._failures: list[tuple[str, float]] = []
        self._bans: list[Ban] = []

    def banned_for(self, address: str) -> float:
        """Seconds left of the longer of this node's and the others' ban (memory only)."""
        with self._lock:
            until = self._view.bans.get(address, 0.0)
        return max(self._local.banned_for(address), until - self._clock(), 0.0)

    def failed(self, address: str) -> float:
        """Count a failed login with the others' failures in the window; queue it (and the
        ban it triggers) for the next exchange."""
        if address_in(address, self.policy.safelist):
            return 0.0
        now = self._clock()
        with self._lock:
            others = self._view.failures.get(address, 0)
            if len(self._failures) < MAX_QUEUED:
                self._failures.append((address, now))
        length = self._local.failed(address, others)
        if length:
            ban = Ban(address, now + length, self._local.bans(address))
            with self._lock:
                self._bans.append(ban)
                self._view.bans[address] = ban.until
                self._view.failures.pop(address, None)
        return length

    def sync(self) -> None:
        """Exchange with the store: write what is queued, read every node's bans and
        failures.  On failure what was queued waits for the next try (bounded)."""
        with self._lock:
            failures, self._failures = self._failures, []
            bans, self._bans = self._bans, []
        try:
            view = self._rows.exchange(failures, bans, now=self._clock(),
                                       window=self.policy.window)
        except Exception:
            with self._lock:
                self._failures = (failures + self._failures)[-MAX_QUEUED:]
                self._bans = bans + self._bans
            raise
        with self._lock:
            for ban in self._bans:  # banned meanwhile: keep refusing until written
                view.bans[ban.address] = max(ban.until, view.bans.get(ban.address, 0.0))
            self._view = view


class SharedSessions:
    """Sessions per institution counted across nodes."""

    def __init__(self, rows: GuardRows, *, clock: Callable[[], float] = time.time,
                 expiry_seconds: float = EXPIRY_SECONDS) -> None:
        self._rows = rows
        self._clock = clock
        self._expiry_seconds = expiry_seconds
        self._tokens: dict[str, list[str]] = {}
        self.executor: Executor | None = ThreadPoolExecutor(
            2, thread_name_prefix="session-counts")
        """enter and leave, for the event loop (see gateway.intake.limits.Sessions)."""

    def enter(self, institution: str, limit: int) -> bool:
        """Count a session unless ``limit`` are live on all nodes; raises StoreUnavailable
        when the store cannot be reached (the login is refused: nothing could be recorded)."""
        token = secrets.token_hex(8)
        now = self._clock()
        counted = self._rows.enter(token, institution, limit, now=now,
                                   expires_at=now + self._expiry_seconds)
        if counted:
            self._tokens.setdefault(institution, []).append(token)
        return counted

    def leave(self, institution: str) -> None:
        """Uncount one of this node's sessions of ``institution`` (else it expires)."""
        tokens = self._tokens.get(institution)
        if not tokens:
            return
        token = tokens.pop()
        try:
            self._rows.leave(token)
        except Exception:
            log.exception("session not uncounted; it expires instead",
                          extra={"institution": institution,
                                 "expires_in_seconds": self._expiry_seconds})

    def keep_alive(self) -> None:
        """Push this node's sessions' expiry ahead; drop the expired ones of any node."""
        now = self._clock()
        self._rows.keep_alive(now=now, expires_at=now + self._expiry_seconds)


class GuardSync:
    """The thread that exchanges bans and keeps sessions alive every ``sync_seconds``."""

    def __init__(self, bans: SharedBans, sessions: SharedSessions, rows: GuardRows,
                 sync_seconds: float = SYNC_SECONDS) -> None:
        self._work = (bans.sync, sessions.keep_alive)
        self._rows = rows
        self._sync_seconds = sync_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Forget a previous run's sessions of this node, then exchange periodically."""
        self._rows.forget_node()
        self._thread = threading.Thread(target=self._run, name="login-guard-sync",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self._sync_seconds):
            for work in self._work:
                try:
                    work()
                except Exception:  # the next period tries again
                    log.exception("login guard not synchronised with the store")
