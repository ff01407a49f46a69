"""Password checks: argon2id on a few threads of their own, shared fairly between usernames.

argon2 is deliberately slow, so a spray of wrong passwords is a queue of expensive work.
Checks wait in a :class:`FairQueue` keyed by the institution tried and run round-robin
across keys: a spray against one institution makes its own checks wait, while another
institution's login waits for at most one check per other key with work waiting.  Every
username no institution has shares one key (``UNKNOWN``), so a spray over made-up usernames
is one flood, not thousands of fair shares.

The queue holds at most ``capacity`` checks.  When it is full, the key with the most checks
waiting gives up its newest one, unless the newcomer's key already has checks waiting and
would then have the most: then the newcomer is refused.  A key with nothing waiting always
gets in.  The refused check raises :class:`OverloadedError`.  Overload says nothing about the
password, so callers must not treat it as a failed login.

Unknown usernames are hashed against a dummy hash, as known ones are; only under a flood of
them does their shared turn make them wait longer than a known username would (availability
for real institutions over hiding which usernames exist, which are institution names).
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("no such user")

T = TypeVar("T")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches the argon2 ``password_hash`` (None never matches)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


UNKNOWN = object()
"""The one queue key of every username no institution has."""


class OverloadedError(Exception):
    """The check was not run: too many checks were waiting.  Not a verdict on the password."""


class FairQueue(Generic[T]):
    """Items waiting by key, taken round-robin across keys, at most ``capacity`` in all.

    Not thread-safe: used from the event loop only.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._waiting: dict[Hashable, deque[T]] = {}
        """Keys in turn order: the first key's oldest item is taken next."""
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def put(self, key: Hashable, item: T) -> T | None:
        """Queue ``item`` under ``key``; return the item refused to make it fit, or None.

        With room, nothing is refused.  When full, the newest item of the key with the most
        waiting is refused to make room, except when ``key`` has items waiting already and
        would then have at least as many as that key: then ``item`` itself is refused.  A
        key with nothing waiting always gets in, however many keys fill the queue.
        """
        refused: T | None = None
        if self._size >= self.capacity:
            longest = max(self._waiting, key=lambda k: len(self._waiting[k]))
            mine = len(self._waiting.get(key, ()))
            if mine and mine + 1 >= len(self._waiting[longest]):
                return item
            refused = self._waiting[longest].pop()
            self._size -= 1
        self._waiting.setdefault(key, deque()).append(item)
        self._size += 1
        return refused

    def take(self) -> T | None:
        """The oldest item of the key whose turn it is (that key's turn then passes to the
        back), or None when nothing waits."""
        for key in self._waiting:
            items = self._waiting.pop(key)
            item = items.popleft()
            if items:
                self._waiting[key] = items  # re-inserted: its next item waits a full round
            self._size -= 1
            return item
        return None

    def remove(self, key: Hashable, item: T) -> None:
        """Forget ``item`` (waiting under ``key``) if it is still waiting."""
        items = self._waiting.get(key)
        if items is None or item not in items:
            return
        items.remove(item)
        self._size -= 1
        if not items:
            del self._waiting[key]


@dataclass(eq=False)
class _Check:
    password_hash: str | None
    password: str
    verdict: asyncio.Future[bool] = field(repr=False)


class PasswordChecker:
    """argon2 verification on ``threads`` threads of its own, fed by a :class:`FairQueue`
    of ``waiting`` checks.  Create and use on the event loop."""

    def __init__(self, threads: int = 2, waiting: int = 32) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        self._threads = threads
        self._running = 0
        self._queue: FairQueue[_Check] = FairQueue(waiting)

    async def check(self, username: str, password_hash: str | None, password: str, *,
                    known: bool = True) -> bool:
        """Whether ``password`` matches ``password_hash``, checked off the event loop in
        ``username``'s turn (all unknown usernames, ``known`` False, share one turn); raise
        :class:`OverloadedError` if the check is refused or pushed out of the queue by other
        usernames' checks."""
        verdict: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        check = _Check(password_hash, password, verdict)
        key: Hashable = username if known else UNKNOWN
        refused = self._queue.put(key, check)
        if refused is check:
            raise OverloadedError
        if refused is not None:
            refused.verdict.set_exception(OverloadedError())
        # A caller that gives up (its connection closed) frees its place in the queue.
        verdict.add_done_callback(lambda _: self._queue.remove(key, check))
        self._start_checks()
        return await verdict

    def _start_checks(self) -> None:
        while self._running < self._threads:
            check = self._queue.take()
            if check is None:
                return
            if check.verdict.done():
                continue
            self._running += 1
            ran = asyncio.get_running_loop().run_in_executor(
                self._executor, verify_password, check.password_hash, check.password)
            ran.add_done_callback(functools.partial(self._finished, check))

    def _finished(self, check: _Check, ran: asyncio.Future[bool]) -> None:
        self._running -= 1
        if not check.verdict.done():
            if ran.cancelled():
                check.verdict.cancel()
            elif (error := ran.exception()) is not None:
                check.verdict.set_exception(error)
            else:
                check.verdict.set_result(ran.result())
        self._start_checks()

    def close(self) -> None:
        """Stop the hashing threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
