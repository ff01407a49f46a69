"""Tables and fact lists for people, drawn by ``rich``: columns fit their longest cell and
long cells wrap inside their column, so a table never misaligns.  Plain text (no colour,
no markup read from values) when the output is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

_PIPE_WIDTH = 160
"""Width when stdout is a pipe or a file: wide enough that paths and reasons stay whole."""


def emit(*parts: RenderableType) -> None:
    """Print ``parts`` (tables, fact lists, lines) on stdout, without trailing blanks."""
    out = Console(highlight=False, markup=False, emoji=False)
    if not out.is_terminal:
        out = Console(highlight=False, markup=False, emoji=False, width=_PIPE_WIDTH,
                      no_color=True)
    with out.capture() as captured:
        for part in parts:
            out.print(part)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in
                             captured.get().splitlines()))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *,
          right: Sequence[str] = ()) -> Table:
    """A table with ``headers`` (those in ``right`` right-aligned, for numbers)."""
    drawn = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        drawn.add_column(header, justify="right" if header in right else "left",
                         overflow="fold")
    for row in rows:
        drawn.add_row(*(Text("-" if cell is None or cell == "" else str(cell))
                        for cell in row))
    return drawn


def facts(pairs: Iterable[tuple[str, object]]) -> Table:
    """Two columns, name and value, without borders (``key   value`` lines)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(Text(name), Text(str(value)))
    return grid
