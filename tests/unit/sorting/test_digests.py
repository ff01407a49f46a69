"""Compact digest sets: repeats found, blanks ignored, set operations partition-wise."""

from __future__ import annotations

from array import array

from gateway.sorting.validation.digests import DigestSet, freeze


def test_freeze_finds_repeats_and_counts_extra_appends() -> None:
    digests, repeated, extra = freeze(array("q", [5, 7, 5, 9, 5, 263]), repeats=True)
    assert sorted(digests) == [5, 7, 9, 263]
    assert repeated == {5}
    assert extra == 2


def test_blank_digest_is_neither_an_id_nor_a_repeat() -> None:
    digests, repeated, extra = freeze(array("q", [1, 1, 2]), {3}, repeats=True, blank=1)
    assert sorted(digests) == [2, 3]
    assert (repeated, extra) == (set(), 0)


def test_set_operations() -> None:
    mine = DigestSet.of([1, 2, 300, -4])
    assert mine.missing_from([DigestSet.of([1]), DigestSet.of([300])]) == {2, -4}
    assert mine.common_with(DigestSet.of([-4, 2, 77])) == {2, -4}
    assert -4 in mine
    assert 77 not in mine
    assert len(mine) == 4
