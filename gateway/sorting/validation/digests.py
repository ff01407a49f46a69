"""Compact sets of ids: 64-bit digests, 8 bytes each, for duplicate and reference checks.

A million-row file cannot keep its ids as Python strings in a set (about 80 bytes each), so
ids are reduced to 64-bit digests (Python's keyed string hash, XORed with a per-id-space
salt).  A scan appends them to ``array('q')`` (8 bytes per row); ``freeze`` turns that into
a sorted numpy array of distinct digests (sorting finds the repeats at C speed) and set
operations between files are sorted-array merges.  Two different ids collide with
probability about 2⁻⁶⁴ per pair: a duplicate or a missing reference could be missed, never
invented beyond that.

Digests are only comparable within one process (the hash key is per process): a verdict's
digests serve the batch check that runs right after validation, never storage.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt

Digests = npt.NDArray[np.int64]


class DigestSet:
    """An immutable set of distinct digests (a sorted int64 array)."""

    __slots__ = ("_sorted",)

    def __init__(self, distinct_sorted: Digests) -> None:
        self._sorted = distinct_sorted

    @classmethod
    def of(cls, digests: Iterable[int]) -> DigestSet:
        return cls(np.unique(np.fromiter(digests, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self._sorted)

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, int):
            return False
        at = int(np.searchsorted(self._sorted, digest))
        return at < len(self._sorted) and int(self._sorted[at]) == digest

    def __iter__(self) -> Iterator[int]:
        return iter(self._sorted.tolist())

    def missing_from(self, others: Iterable[DigestSet]) -> set[int]:
        """The digests of this set found in none of ``others``."""
        remaining = self._sorted
        for other in others:
            if not len(remaining):
                break
            remaining = remaining[~np.isin(remaining, other._sorted, assume_unique=True)]
        return set(remaining.tolist())

    def common_with(self, other: DigestSet) -> set[int]:
        """The digests in both sets."""
        return set(np.intersect1d(self._sorted, other._sorted, assume_unique=True).tolist())


def freeze(digests: array[int], more: Iterable[int] = (), *, repeats: bool,
           blank: int | None = None) -> tuple[DigestSet, set[int], int]:
    """Turn appended digests (and ``more``) into a DigestSet and, when ``repeats``, the
    digests appended twice or more and how many appends repeated an earlier one.

    ``blank`` is the digest of a blank value: left out of the set and never a repeat.
    Extra memory: one sorted copy of the digests (8 bytes each).
    """
    values = np.concatenate((np.frombuffer(digests, dtype=np.int64) if len(digests)
                             else np.empty(0, np.int64),
                             np.fromiter(more, dtype=np.int64)))
    if blank is not None:
        values = values[values != blank]
    values.sort()
    same = values[1:] == values[:-1]
    distinct = values[np.concatenate(([True], ~same))] if len(values) else values
    if not repeats:
        return DigestSet(distinct), set(), 0
    repeated = set(np.unique(values[1:][same]).tolist())
    return DigestSet(distinct), repeated, int(np.count_nonzero(same))
