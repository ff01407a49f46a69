"""Opening one CSV for a pass: checked bytes, decoded lines, Ruby-faithful records.

Validation reads a file once; naming duplicates or missing references (rare) reads it again
the same way, so both go through ``reading``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from gateway.sorting.validation.blocks import Block
from gateway.sorting.validation.rubycsv import read_blocks
from gateway.sorting.validation.source import CheckedSource, text_lines

Opener = Callable[[], BinaryIO]
"""Returns a fresh binary stream of the file's bytes each time it is called."""


@dataclass
class Reading:
    """One pass: the checked source and its rows (cells), a block of rows at a time."""

    source: CheckedSource
    blocks: Iterator[Block]

    @property
    def batches(self) -> Iterator[list[list[str]]]:
        """The same blocks (what is left of them) as lists of rows."""
        return (block.rows() for block in self.blocks)


@contextmanager
def reading(opener: Opener, record_limit: int,
            on_progress: Callable[[int], None] | None = None) -> Iterator[Reading]:
    """Open the file for one pass; iterating ``blocks`` may raise MalformedCsvError or
    RecordTooLongError, and stops early (check ``source.problem``) at a bad byte."""
    with opener() as stream:
        source = CheckedSource(stream, on_progress)
        text = text_lines(source)
        yield Reading(source, read_blocks(text.read, source.separator, record_limit))
