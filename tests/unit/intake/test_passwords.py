"""Password checks are shared fairly: one username's flood never refuses another's check, and
a refused check is an overload, not a verdict."""

from __future__ import annotations

import asyncio
import threading

import pytest
from argon2 import PasswordHasher

from gateway.intake.passwords import FairQueue, OverloadedError, PasswordChecker


def test_keys_take_turns_oldest_first() -> None:
    queue: FairQueue[str] = FairQueue(10)
    for item in ("a1", "a2", "a3", "b1", "c1", "c2"):
        assert queue.put(item[0], item) is None
    assert [queue.take() for _ in range(7)] == ["a1", "b1", "c1", "a2", "c2", "a3", None]
    assert len(queue) == 0


def test_a_flooding_key_gives_way_and_a_newcomer_of_it_is_refused() -> None:
    queue: FairQueue[str] = FairQueue(4)
    for item in ("a1", "a2", "a3", "a4"):
        assert queue.put("a", item) is None
    assert queue.put("a", "a5") == "a5"  # the flooding key cannot grow
    assert queue.put("b", "b1") == "a4"  # another key pushes out the flood's newest
    assert queue.put("c", "c1") == "a3"
    # a holds 2, b and c 1 each: b's second would leave it no fewer than a's then.
    assert queue.put("b", "b2") == "b2"
    assert queue.put("d", "d1") == "a2"
    assert len(queue) == 4
    assert [queue.take() for _ in range(4)] == ["a1", "b1", "c1", "d1"]


def test_a_key_with_nothing_waiting_always_gets_in() -> None:
    queue: FairQueue[str] = FairQueue(2)
    assert queue.put("a", "a1") is None
    assert queue.put("b", "b1") is None
    # A queue full of other keys (a spray over many usernames) makes room for a newcomer.
    assert queue.put("c", "c1") == "a1"
    assert queue.put("b", "b2") == "b2"  # b has one waiting: one more would be no fairer
    assert len(queue) == 2


def test_a_spray_over_made_up_usernames_is_one_flood() -> None:
    """Twelve made-up usernames share one turn: the queue of four refuses most of them, and
    a real institution's check still gets in."""
    hashed = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("right")

    async def spray_then_login() -> tuple[bool, list[object]]:
        checker = PasswordChecker(threads=1, waiting=4)
        sprays = [asyncio.ensure_future(checker.check(f"made-up-{n}", None, "guess",
                                                      known=False)) for n in range(12)]
        await asyncio.sleep(0)
        honest = await checker.check("beta", hashed, "right")
        return honest, await asyncio.gather(*sprays, return_exceptions=True)

    honest, results = asyncio.run(spray_then_login())
    assert honest is True
    assert sum(isinstance(r, OverloadedError) for r in results) >= 12 - 4 - 1


def test_removed_items_free_their_place() -> None:
    queue: FairQueue[str] = FairQueue(2)
    queue.put("a", "a1")
    queue.put("a", "a2")
    queue.remove("a", "a1")
    queue.remove("a", "gone")
    assert len(queue) == 1
    assert queue.put("a", "a3") is None
    assert [queue.take(), queue.take(), queue.take()] == ["a2", "a3", None]


def test_a_flood_of_one_username_never_refuses_another(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    gate = threading.Event()
    ran: list[str] = []

    def verify(stored: str | None, password: str) -> bool:
        ran.append(password)
        gate.wait(10)
        return stored == password

    monkeypatch.setattr("gateway.intake.passwords.verify_password", verify)
    checker = PasswordChecker(threads=1, waiting=4)

    async def spray_and_login() -> list[bool | BaseException]:
        spray = [asyncio.ensure_future(checker.check("alpha", "right", f"a{n}"))
                 for n in range(10)]
        await asyncio.sleep(0.05)
        login = asyncio.ensure_future(checker.check("beta", "b0", "b0"))
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*spray, login, return_exceptions=True)

    try:
        outcomes = asyncio.run(spray_and_login())
    finally:
        checker.close()
    # a0 runs, a1..a4 wait, a5..a9 are refused; beta pushes out a4 and runs in its turn.
    assert ran == ["a0", "a1", "b0", "a2", "a3"]
    assert outcomes[-1] is True
    refused = [n for n, outcome in enumerate(outcomes[:-1])
               if isinstance(outcome, OverloadedError)]
    assert refused == [4, 5, 6, 7, 8, 9]
    assert outcomes[:4] == [False] * 4  # checked, and wrong


def test_a_caller_that_gives_up_frees_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    monkeypatch.setattr("gateway.intake.passwords.verify_password",
                        lambda stored, password: gate.wait(10))
    checker = PasswordChecker(threads=1, waiting=2)

    async def give_up() -> bool:
        running = asyncio.ensure_future(checker.check("alpha", None, "x"))
        waiting = [asyncio.ensure_future(checker.check("alpha", None, "y")) for _ in range(2)]
        await asyncio.sleep(0.05)
        for task in waiting:
            task.cancel()
        await asyncio.sleep(0)
        again = asyncio.ensure_future(checker.check("alpha", None, "z"))
        gate.set()
        await running
        return await again

    try:
        assert asyncio.run(give_up()) is True
    finally:
        checker.close()
