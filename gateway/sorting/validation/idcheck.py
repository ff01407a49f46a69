"""Ids within one file: freezing the digests a scan collected, naming repeated ids.

Repeats are found from digests alone (8 bytes per id); only when there are some is the file
read a second time to name them with their rows, so a clean file is read once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

from gateway.sorting.kinds import SisKind
from gateway.sorting.validation.digests import DigestLog, DigestSet, freeze
from gateway.sorting.validation.findings import Code, Finding, FindingLog
from gateway.sorting.validation.options import ValidationOptions
from gateway.sorting.validation.reading import Opener, reading
from gateway.sorting.validation.rulebook import IdSpace
from gateway.sorting.validation.scan import SALTS, Layout, RowScanner, key_digest, single_digest


@dataclass(frozen=True)
class TrackedIds:
    """The distinct ids of one column of a file (``role``: defines, unique or reference)."""

    column: str
    space: IdSpace
    lower: bool
    position: int
    role: str
    digests: DigestSet

    def digest(self, values: tuple[str, ...]) -> int | None:
        """This column's digest for one row's values (None when blank)."""
        value = values[self.position].strip()
        return single_digest(value, SALTS[self.space], self.lower) if value else None


@dataclass(frozen=True)
class FileIds:
    """What the batch check needs of one validated file."""

    name: str
    kind: SisKind
    layout: Layout
    opener: Opener
    record_limit: int
    columns: tuple[TrackedIds, ...]
    key: DigestSet | None

    def defined(self) -> TrackedIds | None:
        return next((c for c in self.columns if c.role == "defines"), None)

    def references(self) -> list[TrackedIds]:
        return [c for c in self.columns if c.role == "reference"]

    def identities(self) -> DigestSet | None:
        """The row identities duplicates are judged by: the key, else the defined id."""
        defined = self.defined()
        return self.key if self.key is not None else defined.digests if defined else None

    def rows(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        """Read the file again: ``(Canvas row, needed values)`` for each data row."""
        with reading(self.opener, self.record_limit) as pass_:
            records = chain.from_iterable(pass_.batches)
            next(records, None)  # the header
            for row, cells in enumerate(records, start=2):
                yield row, self.layout.row_values(cells)


def collect_ids(scanner: RowScanner, opener: Opener, name: str, options: ValidationOptions,
                log: FindingLog) -> FileIds:
    """Freeze the scan's digests; add a DUPLICATE_ID finding for each repeated id."""
    layout = scanner.layout
    columns: list[TrackedIds] = []
    probes: list[_Probe] = []
    for target in layout.targets:
        judged = target.role == "unique" or (target.role == "defines" and
                                             not layout.key_positions)
        digests, repeated, extra = freeze(target.log, repeats=judged,
                                          blank=SALTS[target.space])
        target.log = DigestLog()
        tracked = TrackedIds(target.column, target.space, target.lower, target.position,
                             target.role, digests)
        columns.append(tracked)
        if repeated:
            probes.append(_Probe(tracked, None, repeated, extra))
    key = None
    if layout.key_positions:
        key, repeated, extra = freeze(scanner.keys, repeats=True)
        scanner.keys = DigestLog()
        if repeated:
            probes.append(_Probe(None, layout, repeated, extra))
    if scanner.untracked:
        log.add(Finding(Code.CHECKS_LIMITED, name, None, None,
                        f"Duplicate and reference checks covered the first "
                        f"{scanner.rows - scanner.untracked} rows only",
                        "split very large exports, or raise the id_rows limit"))
    ids = FileIds(name, layout.kind, layout, opener, options.record_limit, tuple(columns), key)
    if probes:
        _name_repeats(ids, probes, options.named_duplicates, log)
    return ids


@dataclass
class _Probe:
    """One column (or the row key) with repeated digests to name in a second pass."""

    column: TrackedIds | None
    layout: Layout | None
    repeated: set[int]
    extra: int

    def digest(self, values: tuple[str, ...]) -> int | None:
        if self.column is not None:
            return self.column.digest(values)
        assert self.layout is not None
        return key_digest(self.layout.key_of(values))

    def describe(self, values: tuple[str, ...]) -> tuple[str, str]:
        """(column, text) naming the repeated id for a message."""
        if self.column is not None:
            column = self.column.column
            return column, f"{column} {values[self.column.position].strip()}"
        assert self.layout is not None
        parts = [f"{column} {values[self.layout.needed.index(column)].strip()}"
                 for column in _key_columns(self.layout) if
                 values[self.layout.needed.index(column)].strip()]
        return _key_columns(self.layout)[0], ", ".join(parts)


def _key_columns(layout: Layout) -> list[str]:
    return [layout.needed[position] for position in layout.key_positions]


def _name_repeats(ids: FileIds, probes: list[_Probe], limit: int, log: FindingLog) -> None:
    first_rows: list[dict[int, int]] = [{} for _ in probes]
    named = [0] * len(probes)
    for row, values in ids.rows():
        for index, probe in enumerate(probes):
            digest = probe.digest(values)
            if digest is None or digest not in probe.repeated:
                continue
            first = first_rows[index].setdefault(digest, row)
            if first != row and named[index] < limit:
                named[index] += 1
                column, text = probe.describe(values)
                log.add(Finding(Code.DUPLICATE_ID, ids.name, row, column,
                                f"Duplicate {text.strip()}: row {first} has it too; "
                                "Canvas applies both rows, the later one last",
                                "keep one row per id, or check the export for doubled rows"))
    for index, probe in enumerate(probes):
        if probe.extra > named[index]:
            column = probe.column.column if probe.column else _key_columns(ids.layout)[0]
            log.add(Finding(Code.DUPLICATE_ID, ids.name, None, column,
                            f"{probe.extra - named[index]} more rows repeat an earlier "
                            f"{column if probe.column else 'row identity'}",
                            "keep one row per id"))
