"""The per-row pass over one recognised CSV: Canvas's row rules plus id digests.

This is the hot loop of validation (a million rows per file is normal), so the layout of a
file is compiled once from its header: an ``itemgetter`` pulls the columns the rule and the
id checks read into one tuple per row.  Per row the loop runs the rule and keeps the tuple;
once per block of rows the ids are digested by a chain of C-level ``map`` calls (strip,
lower, hash, salt), so tracking ids costs one list append per row.  Absent columns read as
``""``: each row gets one extra empty cell that they point at.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter, xor

from gateway.sorting.kinds import SisKind
from gateway.sorting.validation.blocks import Block
from gateway.sorting.validation.digests import DigestLog
from gateway.sorting.validation.rulebook import IDS, RULES, IdSpace
from gateway.sorting.validation.rules import NUL_IN_ROW, RowProblem

Report = Callable[[RowProblem, int], None]
Row = tuple[str, ...]


def _salt(space: IdSpace) -> int:
    digest = hashlib.blake2b(space.value.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


SALTS: dict[IdSpace, int] = {space: _salt(space) for space in IdSpace}


def single_digest(value: str, salt: int, lower: bool) -> int:
    """The digest of one stripped id (lower-cased where Canvas ignores case); a blank id's
    digest is the salt itself (the hash of ``""`` is 0)."""
    return hash(value.lower() if lower else value) ^ salt


def key_digest(values: Row) -> int:
    """The digest of a row identity made of several raw values."""
    return hash(values)


@dataclass
class Target:
    """One id column tracked per row: its position in the row tuple, space and digests.

    ``log`` keeps every digest of a defining or unique column (to find repeats) and, for a
    reference, each block's distinct ones (repeats across blocks vanish when frozen).
    """

    column: str
    space: IdSpace
    lower: bool
    position: int
    role: str  # "defines", "unique" or "reference"
    log: DigestLog = field(default_factory=DigestLog)

    def take(self, values: Sequence[str]) -> None:
        """Digest this column's values for a block of rows at C speed."""
        if self.role == "reference":  # distinct ones only: drop repeats before digesting
            values = list(set(values))
        stripped: Iterator[str] = map(str.strip, values)
        if self.lower:
            stripped = map(str.lower, stripped)
        self.log.extend(map(xor, map(hash, stripped), repeat(SALTS[self.space])))


@dataclass
class Layout:
    """A file's header compiled for one kind: where every needed column is."""

    kind: SisKind
    width: int
    index: dict[str, int]
    needed: list[str]
    positions: tuple[int, ...]  # of each needed column in a row; ``width`` when absent
    getter: Callable[[Sequence[str]], Row]
    targets: list[Target]
    key_positions: tuple[int, ...]

    @classmethod
    def compile(cls, kind: SisKind, header: Sequence[str]) -> Layout:
        index: dict[str, int] = {}
        for position, name in enumerate(header):
            index.setdefault(name, position)  # Ruby: the first of duplicate columns wins
        needed = list(RULES[kind].columns)
        ids = IDS[kind]
        targets = _targets(ids.defines, ids.unique, ids.references, index, needed)
        # Absent columns are blank on every row: they add nothing to a row's identity.
        present = [column for column in ids.key if column in index] or list(ids.key)
        key_positions = tuple(_position(column, needed) for column in present)
        width = len(header)
        positions = tuple(index.get(column, width) for column in needed)
        getter = itemgetter(*positions)
        return cls(kind, width, index, needed, positions, getter, targets, key_positions)

    def key_of(self, values: Row) -> Row:
        """The raw values of the row identity (``key_digest`` hashes them)."""
        return tuple(values[position] for position in self.key_positions)

    def row_values(self, cells: list[str]) -> Row:
        """The needed values of one row (outside the hot loop: rescans)."""
        if len(cells) != self.width:
            cells = (cells + [""] * self.width)[: self.width]
        return self.getter([*cells, ""])


def _position(column: str, needed: list[str]) -> int:
    if column not in needed:
        needed.append(column)
    return needed.index(column)


def _targets(defines: tuple[str, IdSpace] | None, unique: Iterable[tuple[str, IdSpace, bool]],
             references: Iterable[tuple[str, IdSpace]], index: dict[str, int],
             needed: list[str]) -> list[Target]:
    wanted: list[tuple[str, IdSpace, bool, str]] = []
    if defines is not None:
        wanted.append((*defines, False, "defines"))
    wanted += [(column, space, lower, "unique") for column, space, lower in unique]
    wanted += [(column, space, False, "reference") for column, space in references]
    return [Target(column, space, lower, _position(column, needed), role)
            for column, space, lower, role in wanted if column in index]


class RowScanner:
    """Runs one file's rows through its kind's rule and collects id digests.

    A block of rows goes one of two ways.  When every row has the header's width, no NUL
    has been read and the rule's ``clean`` test says no row of the block can draw a message
    (column-wise, at C speed), the rows need no per-row work.  Otherwise each row goes
    through ``check`` and ``advise``, as Canvas's importer takes it.  Both ways yield the
    same findings: ``clean`` only answers True where ``check`` imports every row silently.
    A row whose every cell is blank is skipped, as Canvas's ``csv_rows`` skips it, but it
    keeps its row number.
    """

    def __init__(self, layout: Layout, report: Report, *, skip_deletes: bool,
                 custom_roles: frozenset[str], id_rows: int,
                 nul_seen: Callable[[], bool] = lambda: False) -> None:
        rule = RULES[layout.kind]
        self.layout = layout
        self.keys = DigestLog()
        self.rows = 0
        self.untracked = 0  # rows past ``id_rows`` whose ids were not digested
        self._report = report
        self._skip_deletes = skip_deletes
        self._roles = custom_roles
        self._id_rows = id_rows
        self._nul_seen = nul_seen
        self._advise = rule.advise if any(c in layout.index for c in rule.advised) else None
        self._check = rule.check
        self._clean = rule.clean
        self._rule_width = len(rule.columns)

    def scan(self, blocks: Iterable[Block]) -> None:
        """Check every row of every block; digest the ids of the first ``id_rows`` rows."""
        for batch in blocks:
            room = self._id_rows - self.rows
            columns = self._check_block(batch)
            kept = len(columns[0]) if columns else 0
            if room > 0 and kept:
                self._take_ids(columns if room >= kept else [c[:room] for c in columns])
            self.untracked += max(0, kept - max(room, 0))

    def _check_block(self, block: Block) -> list[Sequence[str]]:
        """The block's needed columns (rows kept for the id checks) after the row checks."""
        if self._clean is not None and block.count and not self._nul_seen():
            columns = self._columns(block)
            if columns is not None and self._clean(columns[: self._rule_width]):
                self.rows += block.count
                return columns
        kept = self._check_rows(block.rows())
        return list(zip(*kept, strict=True)) if kept else []

    def _columns(self, block: Block) -> list[Sequence[str]] | None:
        """The needed columns of a block whose rows all have the header's width."""
        width, count = self.layout.width, block.count
        column: Callable[[int], Sequence[str]]
        if block.columnar:
            if block.width != width:
                return None
            column = block.column  # only the needed columns are sliced
        else:
            rows = block.rows()
            if set(map(len, rows)) != {width}:
                return None
            column = list(zip(*rows, strict=True)).__getitem__
        blank = ("",) * count
        return [column(p) if p < width else blank for p in self.layout.positions]

    def _check_rows(self, batch: list[list[str]]) -> list[Row]:
        """Row by row: the rule (and advice) for each row; returns the kept rows' values."""
        width, getter, pad = self.layout.width, self.layout.getter, [""] * self.layout.width
        check, advise, skip, roles = self._check, self._advise, self._skip_deletes, self._roles
        nul = self._nul_seen()
        kept: list[Row] = []
        keep = kept.append
        rows = self.rows
        for row in batch:
            rows += 1
            cells = row if len(row) == width else (row + pad)[:width]
            cells.append("")
            values = getter(cells)
            result = check(values, skip)
            problem = result if result.__class__ is RowProblem else None
            if problem is None and nul and any("\0" in cell for cell in row):
                problem = NUL_IN_ROW
            if problem is None and advise is not None:
                problem = advise(values, roles)
            if problem is not None:
                if not any(map(str.strip, row)):
                    continue  # Canvas skips a row of blank cells without a word
                self._report(problem, rows + 1)
            keep(values)
        self.rows = rows
        return kept

    def _take_ids(self, columns: list[Sequence[str]]) -> None:
        for target in self.layout.targets:
            target.take(columns[target.position])
        if self.layout.key_positions:
            self.keys.extend(map(hash, zip(*(columns[p] for p in self.layout.key_positions),
                                           strict=True)))
