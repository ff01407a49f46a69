"""Blocks of rows, and the two ways a block is split at C speed (see ``rubycsv``).

A block of plain lines (no quote, no stray line end) whose lines all have as many commas
is split once, flat, and a column is then a slice: no list is built per row.  A block whose
quotes are all simple (``split_simply_quoted``) is split the same way, commas inside the
quotes standing in as ``_COMMA_STANDIN`` until a column or row is read.  Both give Ruby's
fields exactly: every other block goes through ``rubycsv``'s other paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat


@dataclass(frozen=True)
class Layout:
    """What the splitters need of the text: its row separator, the record limit (0: none)
    and the test that a text holds no quote and no stray line end."""

    separator: str
    max_record: int
    plain: Callable[[str], bool]


class Block:
    """The rows of a block of text: as lists of cells, or (a block of plain lines that all
    have ``width`` cells) as one flat list of cells, row after row, so that a column is a
    slice (``column``) and no list is built per row."""

    __slots__ = ("_flat", "_rows", "_standin", "count", "width")

    def __init__(self, rows: list[list[str]] | None = None, flat: list[str] | None = None,
                 width: int = 0, standin: bool = False) -> None:
        self._rows = rows
        self._flat = flat
        self._standin = standin  # cells may hold _COMMA_STANDIN for a comma
        self.width = width
        self.count = len(rows) if rows is not None else len(flat or ()) // max(width, 1)

    @property
    def columnar(self) -> bool:
        return self._flat is not None

    def rows(self) -> list[list[str]]:
        if self._rows is None:
            flat, width = _restored(self._flat or [], self._standin), self.width
            self._rows = [flat[at:at + width] for at in range(0, len(flat), width)]
        return self._rows

    def column(self, position: int) -> list[str]:
        """One column of a columnar block (``position`` < ``width``)."""
        return _restored((self._flat or [])[position::self.width], self._standin)

    def after_first(self) -> Block:
        """The block without its first row (the header)."""
        if self._flat is not None:
            return Block(flat=self._flat[self.width:], width=self.width, standin=self._standin)
        return Block(self.rows()[1:])


def _restored(cells: list[str], standin: bool) -> list[str]:
    """``cells`` with their commas back (see ``_simply_quoted``)."""
    if standin and _COMMA_STANDIN in "".join(cells):
        return list(map(str.replace, cells, repeat(_COMMA_STANDIN), repeat(",")))
    return cells


def split_plain(text: str, lines: list[str], separator: str) -> Block:
    """Plain lines (no quote, no line end) as cells: one flat split when every line has
    the same number of commas and none is blank, else a split per line."""
    commas = set(map(str.count, lines, repeat(",")))
    if len(commas) == 1 and "" not in lines:
        return Block(flat=text.replace(separator, ",").split(","), width=commas.pop() + 1)
    return Block([line.split(",") for line in lines if line])


_COMMA_STANDIN = "\x1f"  # stands for a comma inside quotes while a block is split flat


def split_simply_quoted(text: str, lines: list[str], layout: Layout) -> Block | None:
    """A block whose quoted fields hold no quote and no line end, every quote next to a
    comma or a line end, and every line as many cells: split flat like a plain block, with
    commas inside quotes standing in as ``_COMMA_STANDIN`` until a column is read.  None:
    not such a block."""
    pieces = _simple_pieces(text, lines, layout)
    if pieces is None:
        return None
    inside = pieces[1::2]
    quoted = "".join(inside)
    if "\r" in quoted or "\n" in quoted:
        return None
    standin = "," in quoted
    if standin:
        pieces[1::2] = map(str.replace, inside, repeat(","), repeat(_COMMA_STANDIN))
    plain = "".join(pieces)
    if not layout.plain(plain):
        return None
    widths = set(map(str.count, plain.split(layout.separator), repeat(",")))
    if len(widths) != 1:
        return None
    cells = plain.replace(layout.separator, ",").split(",")
    return Block(flat=cells, width=widths.pop() + 1, standin=standin)


def _simple_pieces(text: str, lines: list[str], layout: Layout) -> list[str] | None:
    """The text split at its quotes, when every quote opens a field after a comma or a
    line start, or closes it before a comma or a line end (the quoted contents are then at
    odd places; one piece empty between two quotes would be a doubled quote: not simple)."""
    if '"' not in text or _COMMA_STANDIN in text or "" in lines or (
            layout.max_record and max(map(len, lines)) > layout.max_record):
        return None
    pieces = text.split('"')
    outside = pieces[::2]
    if len(pieces) % 2 == 0 or not all(outside[1:-1]):
        return None
    ends = (",", layout.separator)
    first, last = outside[0], outside[-1]
    simple = ((not first or first.endswith(ends)) and (not last or last.startswith(ends))
              and all(map(str.startswith, outside[1:-1], repeat(ends)))
              and all(map(str.endswith, outside[1:-1], repeat(ends))))
    return pieces if simple else None
