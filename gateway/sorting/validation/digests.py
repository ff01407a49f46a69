"""Compact sets of ids: 64-bit digests, 8 bytes each, for duplicate and reference checks.

A million-row file cannot keep its ids as Python strings in a set (about 80 bytes each), so
ids are reduced to 64-bit digests (Python's keyed string hash, XORed with a per-id-space
salt) kept in ``array('q')`` partitions.  Two different ids collide with probability about
2⁻⁶⁴ per pair: a duplicate or a missing reference could be missed, never invented beyond that.

Digests are only comparable within one process (the hash key is per process): a verdict's
digests serve the batch check that runs right after validation, never storage.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

PARTITIONS = 256
_MASK = PARTITIONS - 1


def new_partitions() -> list[array[int]]:
    """Empty partitions to append digests to (``parts[d & 255].append(d)``)."""
    return [array("q") for _ in range(PARTITIONS)]


class DigestSet:
    """An immutable set of distinct digests, partitioned by their low byte."""

    __slots__ = ("_parts", "_size")

    def __init__(self, parts: list[array[int]]) -> None:
        self._parts = parts
        self._size = sum(len(part) for part in parts)

    @classmethod
    def of(cls, digests: Iterable[int]) -> DigestSet:
        parts = new_partitions()
        for digest in set(digests):
            parts[digest & _MASK].append(digest)
        return cls(parts)

    def __len__(self) -> int:
        return self._size

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, int) and digest in self._parts[digest & _MASK]

    def __iter__(self) -> Iterator[int]:
        for part in self._parts:
            yield from part

    def partition(self, index: int) -> array[int]:
        return self._parts[index]

    def missing_from(self, others: Iterable[DigestSet]) -> set[int]:
        """The digests of this set found in none of ``others`` (partition by partition)."""
        pool = list(others)
        missing: set[int] = set()
        for index, part in enumerate(self._parts):
            if part:
                known: set[int] = set()
                for other in pool:
                    known.update(other.partition(index))
                missing.update(set(part) - known)
        return missing

    def common_with(self, other: DigestSet) -> set[int]:
        """The digests in both sets."""
        common: set[int] = set()
        for index, part in enumerate(self._parts):
            if part:
                common.update(set(part).intersection(other.partition(index)))
        return common


def freeze(digests: array[int], more: Iterable[int] = (), *, repeats: bool,
           blank: int | None = None) -> tuple[DigestSet, set[int], int]:
    """Turn appended digests (and ``more``) into a DigestSet and, when ``repeats``, the
    digests appended twice or more and how many appends repeated an earlier one.

    ``blank`` is the digest of a blank value: left out of the set and never a repeat.
    Works one partition at a time, so the extra memory is one partition's set.
    """
    parts = new_partitions()
    for digest in digests:
        parts[digest & _MASK].append(digest)
    for digest in more:
        parts[digest & _MASK].append(digest)
    repeated: set[int] = set()
    extra = 0
    for index, part in enumerate(parts):
        distinct = set(part)
        blanks = 0
        if blank is not None and blank in distinct:
            blanks = part.count(blank)
            distinct.discard(blank)
        if repeats and len(part) - blanks != len(distinct):
            extra += len(part) - blanks - len(distinct)
            repeated.update(_repeats(part) - {blank})
        parts[index] = array("q", distinct)
    return DigestSet(parts), repeated, extra


def _repeats(part: array[int]) -> set[int]:
    seen: set[int] = set()
    repeats: set[int] = set()
    for digest in part:
        if digest in seen:
            repeats.add(digest)
        seen.add(digest)
    return repeats
