"""Turns on a Canvas account that several institutions post to.

Canvas runs one account's SIS imports one at a time, in the order they were created
(canvas-lms ``app/models/sis_batch.rb``: jobs on the strand ``strand_for_account``,
``sis_batch:account:<id>``; ``process_all_for_account`` returns while one is importing and
otherwise takes the ``created`` ones oldest first), and the gateway posts a batch only when
nothing is running on the account, so each import's outcome is its own.  When institutions share an
account they therefore take turns.  Asking Canvas again and again whether the account is
free made the requests grow with the square of the institutions sharing it; instead the turn
is held in process: one batch holds an account's turn from its POST until Canvas has ended
its import, the others wait without asking Canvas (or writing anything: after a restart
nobody waits for a turn that is gone), and when the turn is given back the forwarder is
woken and the longest-waiting batch takes it.

Nothing here replaces the checks against Canvas: the batch holding the turn still lists the
account's running imports before posting (imports made by other systems, or by this
gateway before a restart, are waited for there), and never-post-twice is unchanged.  A turn
whose batch is no longer under way (an operator held or skipped it) is free: the waiting
batches ask every forwarder round, in process, so a missed wake-up costs a second, never a
Canvas request.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from gateway.institutions import CanvasTarget

Account = tuple[str, str]
"""A Canvas account: its base URL and account id."""


def account_of(target: CanvasTarget) -> Account:
    """The account an institution's batches are imported into."""
    return target.base_url.rstrip("/"), target.account_id


class AccountTurns:
    """Who may post to each shared account now; thread-safe (forwarder workers use it)."""

    def __init__(self, on_wake: Callable[[], None]) -> None:
        """``on_wake`` is called when a turn was given back while batches wait for it."""
        self._on_wake = on_wake
        self._lock = threading.Lock()
        self._holders: dict[Account, int] = {}
        self._waiting: dict[Account, deque[int]] = {}

    def take(self, account: Account, batch_id: int, under_way: Callable[[int], bool]) -> bool:
        """Give ``batch_id`` the account's turn if it is free (or already its own, or held
        by a batch ``under_way`` says is no longer under way) and no batch has waited
        longer; else queue it (first come, first served) and say no."""
        with self._lock:
            holder = self._holders.get(account)
            if holder == batch_id:
                return True
            waiting = self._waiting.setdefault(account, deque())
            if holder is None or not under_way(holder):
                while waiting and waiting[0] != batch_id and not under_way(waiting[0]):
                    waiting.popleft()  # gone while waiting (held, skipped by an operator)
                if not waiting or waiting[0] == batch_id:
                    self._holders[account] = batch_id
                    if waiting:
                        waiting.popleft()
                    return True
                self._holders.pop(account, None)  # free, but another has waited longer
            if batch_id not in waiting:
                waiting.append(batch_id)
            return False

    def give_back(self, account: Account, batch_id: int) -> None:
        """``batch_id`` is done with the account (its import ended, or it will not post):
        free the turn and, if a batch waits for it, wake the forwarder to hand it on.
        Nothing happens if it held no turn."""
        with self._lock:
            if self._holders.get(account) != batch_id:
                return
            del self._holders[account]
            if not self._waiting.get(account):
                return
        self._on_wake()

    def holder(self, account: Account) -> int | None:
        """The batch holding the account's turn, if any."""
        with self._lock:
            return self._holders.get(account)
