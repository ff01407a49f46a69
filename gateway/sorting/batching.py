"""Batching rules and the batch zip: when a delivery is complete, and what Canvas receives.

A batch is one Canvas import.  CSVs that arrive together (no new upload for the quiet period)
go into one zip (see gateway.sorting.delivery for how uploads group), written here.
"""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO

from gateway.state.records import UploadRecord

_ZIP_STAMP = (1980, 1, 1, 0, 0, 0)


def is_quiet(pending: Sequence[UploadRecord], now: float, quiet_seconds: float) -> bool:
    """True when uploads are waiting and none arrived in the last ``quiet_seconds``."""
    return bool(pending) and now - max(u.received_at for u in pending) >= quiet_seconds


Source = Callable[[], BinaryIO]
"""Opens one file's bytes afresh (a received upload, or a member of a received zip)."""


def path_source(path: Path) -> Source:
    """A Source reading a file of the spool."""
    return lambda: open(path, "rb")


def write_batch_zip(members: Sequence[tuple[str, Sequence[Source]]],
                    destination: Path) -> None:
    """Write the zip Canvas receives: one member per (name, sources), in the order given.

    One source is copied byte for byte; several (CSVs of one kind, merged) become one CSV
    in arrival order under the union of their headers.  The output is a pure function of
    the inputs (fixed timestamps), so rebuilding a batch after a crash gives the same bytes.
    """
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, sources in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            # force_zip64: members may pass 2 GiB (intake accepts files up to its limit).
            with archive.open(info, "w", force_zip64=True) as writer:
                if len(sources) == 1:
                    with sources[0]() as reader:
                        shutil.copyfileobj(reader, writer, 1 << 20)
                else:
                    merge_csvs(sources, writer)


def merge_csvs(sources: Sequence[Source], writer: BinaryIO | IO[bytes]) -> None:
    """Concatenate CSVs of one kind: a header that is the union of theirs (first seen
    order, lower-cased as Canvas reads it), then every data row in arrival order.  Blank
    lines are dropped as Canvas drops them; streams, so memory stays flat."""
    header = union_header(sources)
    out = io.TextIOWrapper(writer, encoding="utf-8", newline="", write_through=True)
    table = csv.writer(out, lineterminator="\r\n")
    table.writerow(header)
    for source in sources:
        with _text(source) as text:
            rows = csv.reader(text)
            position: dict[str, int] = {}
            for index, cell in enumerate(next(rows, [])):
                # A repeated column: Canvas reads the first, so the merge keeps the first.
                position.setdefault(cell.strip().lower(), index)
            for row in rows:
                if row:  # Canvas skips empty lines only; rows of commas still get its warning
                    table.writerow([row[position[column]] if column in position and
                                    position[column] < len(row) else ""
                                    for column in header])
    out.detach()


def union_header(sources: Sequence[Source]) -> list[str]:
    """The columns of all ``sources`` (first-seen order, lower-cased as Canvas reads them)."""
    header: list[str] = []
    for source in sources:
        with _text(source) as text:
            first = next(csv.reader(text), [])
        header += [c for c in dict.fromkeys(cell.strip().lower() for cell in first)
                   if c and c not in header]
    return header


@contextmanager
def _text(source: Source) -> Iterator[io.TextIOWrapper]:
    with source() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        try:
            yield text
        finally:
            text.detach()
