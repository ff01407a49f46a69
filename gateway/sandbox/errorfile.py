"""SIS import errors as Canvas stores them (SisBatchError) and the error file's bytes (§1.6).

Canvas records every problem of an import as one SisBatchError row: failures (`failure`
true, the import fails) and warnings together.  When an import ends with any of them,
`write_errors_to_file` writes `sis_errors_attachment_<id>.csv` with the header
`sis_import_id,file,message,row`, one line per error, and attaches it to the batch (in
production from a delayed job, so it appears after the terminal state; see store.py); the
API then shows it as `errors_attachment` (files.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class SisError:
    """One SisBatchError: the file (None for batch-level messages), the message, whether it
    fails the import, the 1-based parsed row number (header = row 1) and the row's text."""

    file: str | None
    message: str
    failure: bool = False
    row: int | None = None
    row_info: str | None = None


def errors_csv(import_id: int, problems: tuple[SisError, ...]) -> bytes:
    """The error file's bytes: Ruby CSV output (LF line ends, nil as an empty field)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sis_import_id", "file", "message", "row"])
    for problem in problems:
        writer.writerow([import_id, problem.file, problem.message, problem.row])
    return buffer.getvalue().encode("utf-8")


def row_text(cells: tuple[str, ...]) -> str:
    """`CSV::Row#to_s`: the parsed row written back as one CSV line (Canvas's row_info)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def error_json(import_id: int, problem: SisError) -> dict[str, object]:
    """One SisImportError object of the errors API."""
    return {
        "sis_import_id": import_id,
        "file": problem.file,
        "message": problem.message,
        "row_info": problem.row_info,
        "row": problem.row,
    }
