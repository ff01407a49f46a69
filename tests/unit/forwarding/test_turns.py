"""Turns on a shared Canvas account: one holder, first come first served, a wake-up when a
turn is given back to waiting batches, and a turn whose batch is gone is free."""

from __future__ import annotations

from gateway.forwarding.turns import AccountTurns

ACCOUNT = ("https://canvas.example", "1")


def _turns() -> tuple[AccountTurns, list[int]]:
    wakes: list[int] = []
    return AccountTurns(lambda: wakes.append(1)), wakes


def test_one_batch_holds_the_turn_and_the_longest_waiting_is_woken_once() -> None:
    turns, wakes = _turns()
    alive = {1, 2, 3}
    assert turns.take(ACCOUNT, 1, alive.__contains__)
    assert not turns.take(ACCOUNT, 2, alive.__contains__)
    assert not turns.take(ACCOUNT, 3, alive.__contains__)
    assert turns.take(ACCOUNT, 1, alive.__contains__)  # its own turn still
    turns.give_back(ACCOUNT, 1)
    assert wakes == [1]
    assert turns.holder(ACCOUNT) is None
    assert not turns.take(ACCOUNT, 3, alive.__contains__)  # 2 waited longer
    assert turns.take(ACCOUNT, 2, alive.__contains__)
    assert turns.holder(ACCOUNT) == 2


def test_giving_back_a_turn_not_held_changes_nothing() -> None:
    turns, wakes = _turns()
    assert turns.take(ACCOUNT, 1, lambda _: True)
    assert not turns.take(ACCOUNT, 2, lambda _: True)
    turns.give_back(ACCOUNT, 2)
    assert (turns.holder(ACCOUNT), wakes) == (1, [])


def test_a_turn_or_a_place_whose_batch_is_no_longer_under_way_is_free() -> None:
    turns, _ = _turns()
    alive = {1, 2, 3}
    assert turns.take(ACCOUNT, 1, alive.__contains__)
    assert not turns.take(ACCOUNT, 2, alive.__contains__)
    alive -= {1, 2}  # an operator held the holder, and skipped the first waiting batch
    assert turns.take(ACCOUNT, 3, alive.__contains__)


def test_accounts_do_not_share_turns() -> None:
    turns, _ = _turns()
    assert turns.take(ACCOUNT, 1, lambda _: True)
    assert turns.take(("https://canvas.example", "2"), 2, lambda _: True)
