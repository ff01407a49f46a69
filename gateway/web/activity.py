"""What the SFTP intake went through lately, for the status page's alerts: bans in force and
failed logins within the last hour.

The intake reports events (:meth:`SftpActivity.login_failed`, :meth:`SftpActivity.banned`)
from the event loop; the status page reads counts from HTTP threads, so every method takes
a lock.  Memory is bounded: at most :data:`KEPT_EVENTS` of each kind are remembered (a
flood keeps the newest), which is plenty to say "many" on a page.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

RECENT_SECONDS = 3600.0
"""Failed logins younger than this count as recent."""

KEPT_EVENTS = 10_000
"""Events of each kind remembered at most."""


class SftpActivity:
    """Failed logins and bans as the page's alerts count them; thread-safe and bounded."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: deque[float] = deque(maxlen=KEPT_EVENTS)
        self._bans_until: deque[float] = deque(maxlen=KEPT_EVENTS)

    def login_failed(self) -> None:
        """Count one refused login, now."""
        with self._lock:
            self._failures.append(self._clock())

    def banned(self, seconds: float) -> None:
        """An address is banned from now for ``seconds``."""
        with self._lock:
            self._bans_until.append(self._clock() + seconds)

    def recent_failures(self) -> int:
        """Refused logins within the last :data:`RECENT_SECONDS`."""
        with self._lock:
            since = self._clock() - RECENT_SECONDS
            while self._failures and self._failures[0] < since:
                self._failures.popleft()
            return len(self._failures)

    def bans_in_force(self) -> int:
        """Bans that have not run out yet."""
        with self._lock:
            now = self._clock()
            return sum(1 for until in self._bans_until if until > now)
