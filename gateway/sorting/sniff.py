"""First look at a received file: what Canvas will take it for, how many rows, or why not.

Reads the file once, streaming, so memory stays flat however large it is.  The problems
named are the ones that make Canvas fail a whole import (empty file aside), in its own words,
with what to fix.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from gateway.sorting.kinds import identify, nearest_kind

ZIP_KIND = "zip"
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Sniffed:
    """What the sorter found in one file: a kind and row count, or a problem."""

    kind: str | None
    rows: int | None
    problem: str | None

    @property
    def accepted(self) -> bool:
        """True when the file can go to Canvas."""
        return self.problem is None


def sniff(path: Path, filename: str) -> Sniffed:
    """Classify the received file at ``path`` that its sender called ``filename``."""
    lowered = filename.lower()
    with open(path, "rb") as handle:
        start = handle.read(4)
    if lowered.endswith(".zip"):
        if start != _ZIP_MAGIC:
            return Sniffed(None, None, f"{filename}: not a zip archive (check the upload "
                                       "completed and the file is a .zip)")
        return Sniffed(ZIP_KIND, None, None)
    if not lowered.endswith(".csv"):
        return Sniffed(None, None, f"{filename}: Canvas imports .csv and .zip files only; "
                                   "rename or convert it")
    if not start:
        return Sniffed(None, None, f"{filename}: the file is empty (0 bytes); Canvas would "
                                   "ignore it. Upload the full export")
    return _sniff_csv(path, filename)


def _sniff_csv(path: Path, filename: str) -> Sniffed:
    with open(path, "rb") as raw:
        # utf-8-sig: Canvas accepts a byte order mark and so do we.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        reader = csv.reader(text, strict=True)
        try:
            header = next((row for row in reader if any(cell.strip() for cell in row)), None)
            if header is None:
                return Sniffed(None, None, f"{filename}: no header row; the first line must "
                                           "name the columns")
            rows = sum(1 for row in reader if any(cell.strip() for cell in row))
        except UnicodeDecodeError as error:
            return Sniffed(None, None, _invalid_utf8(path, filename, error))
        except csv.Error as error:
            return Sniffed(None, None, f"{filename}, row {reader.line_num}: Malformed CSV "
                                       f"({error}); check for an unbalanced quote")
    kind = identify(header)
    if kind is None:
        guess, missing = nearest_kind(header)
        return Sniffed(None, None, (
            f"{filename}, row 1: Couldn't find Canvas CSV import headers. The nearest kind is "
            f"{guess.value}, which also needs the column(s): {', '.join(missing)}"))
    return Sniffed(kind.value, rows, None)


def _invalid_utf8(path: Path, filename: str, error: UnicodeDecodeError) -> str:
    """Name the first byte that is not UTF-8, by line and byte offset."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = line = 0
    with open(path, "rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            try:
                decoder.decode(raw_line)
            except UnicodeDecodeError as bad:
                offset += bad.start
                line = number
                break
            offset += len(raw_line)
    where = f"line {line}, byte offset {offset}" if line else "unknown position"
    return (f"{filename}: Invalid UTF-8 at {where} ({error.reason}); save the export as "
            "UTF-8")
