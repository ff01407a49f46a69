"""Compact sets of ids: 64-bit digests, for duplicate and reference checks, in flat memory.

A million-row file cannot keep its ids as Python strings in a set (about 80 bytes each), so
ids are reduced to 64-bit digests (Python's keyed string hash, XORed with a per-id-space
salt).  Two different ids collide with probability about 2⁻⁶⁴ per pair: a duplicate or a
missing reference could be missed, never invented beyond that.

Memory stays flat whatever the row count: a ``DigestLog`` keeps at most ``SPILL`` digests
in memory and writes the rest, sorted and cut into ``BUCKETS`` ranges of value, to an
anonymous temporary file (deleted when closed or collected).  ``freeze`` then works one
bucket at a time (sort, find repeats, drop them) and a large ``DigestSet`` keeps its
buckets in such a file too; set operations between files go bucket by bucket.  So the
memory a check needs is a few buckets' worth (1/64 of the digests of the files compared),
and the disk holds 8 bytes per tracked id.

Digests are only comparable within one process (the hash key is per process): a verdict's
digests serve the batch check that runs right after validation, never storage.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from typing import IO

import numpy as np
import numpy.typing as npt

Digests = npt.NDArray[np.int64]
BUCKETS = 64
SPILL = 1 << 18  # digests a log or a set keeps in memory (2 MiB)
# Bucket b holds the digests in [_EDGES[b], _EDGES[b + 1]): equal ranges of the int64 line.
_EDGES = np.array([-(1 << 63) + b * ((1 << 64) // BUCKETS) for b in range(1, BUCKETS)],
                  dtype=np.int64)
_EMPTY: Digests = np.empty(0, np.int64)


class _Spill:
    """An anonymous temporary file of int64 runs, read back by (offset, count)."""

    def __init__(self) -> None:
        # Closed (and so deleted) when collected with its log or set.
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="gateway-digests-")  # noqa: SIM115
        self._end = 0

    def write(self, values: Digests) -> tuple[int, int]:
        data = values.tobytes()
        os.pwrite(self._file.fileno(), data, self._end)
        place = (self._end, len(values))
        self._end += len(data)
        return place

    def read(self, place: tuple[int, int]) -> Digests:
        offset, count = place
        return np.frombuffer(os.pread(self._file.fileno(), count * 8, offset), dtype=np.int64)


def _cut(sorted_values: Digests) -> list[Digests]:
    """A sorted array cut into its buckets."""
    return np.split(sorted_values, np.searchsorted(sorted_values, _EDGES))


class DigestLog:
    """Append-only digests (repeats kept): ``SPILL`` in memory, the rest on disk."""

    def __init__(self) -> None:
        self._buffer = array("q")
        self._spill: _Spill | None = None
        self._runs: list[list[tuple[int, int]]] = [[] for _ in range(BUCKETS)]

    def extend(self, digests: Iterable[int]) -> None:
        self._buffer.extend(digests)
        if len(self._buffer) >= SPILL:
            self._flush()

    @property
    def spilled(self) -> bool:
        """Some digests are on disk (the log held more than ``SPILL``)."""
        return self._spill is not None

    def _flush(self) -> None:
        self._spill = self._spill or _Spill()
        values = np.sort(np.frombuffer(self._buffer, dtype=np.int64))
        for bucket, part in enumerate(_cut(values)):
            if len(part):
                self._runs[bucket].append(self._spill.write(part))
        self._buffer = array("q")

    def buckets(self) -> Iterator[Digests]:
        """Every digest appended, bucket by bucket (each unsorted)."""
        held = _cut(np.sort(np.frombuffer(self._buffer, dtype=np.int64)) if self._buffer
                    else _EMPTY)
        for bucket in range(BUCKETS):
            runs = [self._spill.read(place) for place in self._runs[bucket]] \
                if self._spill else []
            yield np.concatenate([*runs, held[bucket]]) if runs else held[bucket]


class DigestSet:
    """An immutable set of distinct digests: a sorted array per bucket, in memory or (for
    sets that may be larger than ``SPILL``) on disk."""

    __slots__ = ("_held", "_places", "_size", "_spill")

    def __init__(self, parts: Iterable[Digests], *, on_disk: bool = False) -> None:
        """``parts``: the sorted distinct digests of each bucket, in bucket order; each is
        written out as it comes when ``on_disk``, so only one is ever held."""
        self._spill = _Spill() if on_disk else None
        self._places: list[tuple[int, int]] = []
        self._held: list[Digests] = []
        self._size = 0
        for part in parts:
            self._size += len(part)
            if self._spill is not None:
                self._places.append(self._spill.write(part))
            else:
                self._held.append(part)

    @classmethod
    def of(cls, digests: Iterable[int]) -> DigestSet:
        distinct = np.unique(np.fromiter(digests, dtype=np.int64))
        return cls(_cut(distinct), on_disk=len(distinct) > SPILL)

    def part(self, bucket: int) -> Digests:
        """The sorted distinct digests of one bucket."""
        return self._spill.read(self._places[bucket]) if self._spill else self._held[bucket]

    def __len__(self) -> int:
        return self._size

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, int):
            return False
        part = self.part(int(np.searchsorted(_EDGES, digest, side="right")))
        at = int(np.searchsorted(part, digest))
        return at < len(part) and int(part[at]) == digest

    def __iter__(self) -> Iterator[int]:
        for bucket in range(BUCKETS):
            yield from self.part(bucket).tolist()

    def missing_from(self, others: Iterable[DigestSet]) -> set[int]:
        """The digests of this set found in none of ``others`` (bucket by bucket)."""
        pool = list(others)
        missing: set[int] = set()
        for bucket in range(BUCKETS):
            remaining = self.part(bucket)
            for other in pool:
                if not len(remaining):
                    break
                remaining = remaining[~np.isin(remaining, other.part(bucket),
                                               assume_unique=True)]
            missing.update(remaining.tolist())
        return missing

    def common_with(self, other: DigestSet) -> set[int]:
        """The digests in both sets."""
        common: set[int] = set()
        for bucket in range(BUCKETS):
            common.update(np.intersect1d(self.part(bucket), other.part(bucket),
                                         assume_unique=True).tolist())
        return common


def freeze(log: DigestLog, *, repeats: bool,
           blank: int | None = None) -> tuple[DigestSet, set[int], int]:
    """Turn a log into a DigestSet and, when ``repeats``, the digests appended twice or
    more and how many appends repeated an earlier one.

    ``blank`` is the digest of a blank value: left out of the set and never a repeat.
    Works one bucket at a time.
    """
    repeated: set[int] = set()
    extra = 0

    def parts() -> Iterator[Digests]:
        nonlocal extra
        for bucket in log.buckets():
            values = np.sort(bucket[bucket != blank] if blank is not None else bucket)
            same = values[1:] == values[:-1]
            yield values[np.concatenate(([True], ~same))] if len(values) else values
            if repeats and same.any():
                extra += int(np.count_nonzero(same))
                repeated.update(np.unique(values[1:][same]).tolist())

    return DigestSet(parts(), on_disk=log.spilled), repeated, extra
