"""Compact digest sets: repeats found, blanks ignored, set operations partition-wise."""

from __future__ import annotations

import random

from gateway.sorting.validation.digests import SPILL, DigestLog, DigestSet, freeze


def log_of(*digests: int) -> DigestLog:
    log = DigestLog()
    log.extend(digests)
    return log


def test_freeze_finds_repeats_and_counts_extra_appends() -> None:
    digests, repeated, extra = freeze(log_of(5, 7, 5, 9, 5, 263), repeats=True)
    assert sorted(digests) == [5, 7, 9, 263]
    assert repeated == {5}
    assert extra == 2


def test_blank_digest_is_neither_an_id_nor_a_repeat() -> None:
    digests, repeated, extra = freeze(log_of(1, 1, 2, 3), repeats=True, blank=1)
    assert sorted(digests) == [2, 3]
    assert (repeated, extra) == (set(), 0)


def test_set_operations() -> None:
    mine = DigestSet.of([1, 2, 300, -4])
    assert mine.missing_from([DigestSet.of([1]), DigestSet.of([300])]) == {2, -4}
    assert mine.common_with(DigestSet.of([-4, 2, 77])) == {2, -4}
    assert -4 in mine
    assert 77 not in mine
    assert len(mine) == 4


def test_spilled_log_and_set_give_the_same_answers_as_small_ones() -> None:
    """Past SPILL digests the log and the set live on disk; nothing changes in what they say."""
    chooser = random.Random(7)
    values = [chooser.randrange(-(1 << 63), 1 << 63) for _ in range(SPILL * 2 + 5)]
    # three repeats, appended after the spill
    digests, repeated, extra = freeze(log_of(*values, *values[:3]), repeats=True)
    assert (len(digests), repeated, extra) == (SPILL * 2 + 5, set(values[:3]), 3)
    assert values[-1] in digests
    assert values[0] in digests
    assert 12345 not in digests
    other = DigestSet.of(values[: SPILL])
    assert digests.missing_from([other]) == set(values[SPILL:])
    assert digests.common_with(other) == set(values[: SPILL])
