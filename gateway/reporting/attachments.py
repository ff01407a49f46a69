"""Files attached to a report: every validation finding as CSV, and Canvas's errors CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from gateway.reporting.message import Attachment
from gateway.sorting.identity import without_prefixes
from gateway.state.custody import Custody, CustodyError, PayloadKey
from gateway.state.records import BatchRecord, FindingRecord

FINDINGS_HEADER = ("file", "row", "column", "message", "fix", "rejects_file")
"""``rejects_file``: yes when the finding keeps its file from Canvas (the batch goes on with
the other files)."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list)."""


def findings_csv(reference: str, findings: Sequence[FindingRecord]) -> Attachment:
    """All findings of a batch as a CSV a spreadsheet opens (see ``spreadsheet_csv``)."""
    rows = [(finding.file, "" if finding.row is None else str(finding.row),
             finding.column or "", finding.message, finding.fix,
             "yes" if finding.blocking else "no") for finding in findings]
    return Attachment(f"findings-{reference}.csv",
                      spreadsheet_csv([FINDINGS_HEADER, *rows]))


def spreadsheet_csv(rows: Iterable[Sequence[str]]) -> bytes:
    """``rows`` as a CSV a spreadsheet opens as meant: UTF-8 with a BOM, CRLF line ends and
    every cell through ``spreadsheet_cell``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([spreadsheet_cell(cell) for cell in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def spreadsheet_cell(value: str) -> str:
    """``value`` prefixed with ``'`` when it starts with one of FORMULA_STARTS, so that Excel
    or LibreOffice shows it as text instead of running it (file and member names and finding
    texts come from senders: ``=cmd|' /C calc'!A0``); any other value unchanged.

    For every cell of a CSV the gateway writes for people; never for the CSVs sent to Canvas,
    which are the institution's own data and go unchanged.
    """
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def canvas_errors_csv(custody: Custody, batch: BatchRecord) -> Attachment | None:
    """The errors CSV Canvas produced for the batch's import, if the gateway kept one, as
    its sender reads it: file names as they were uploaded (no batch-and-attempt prefix) and
    cells a spreadsheet would run neutralised; the kept file itself is left as Canvas sent
    it (``gateway show`` and the archive)."""
    if not batch.errors_csv:
        return None
    if batch.errors_csv != PayloadKey.batch_errors(batch.id).name:
        return None  # none was kept for this import (not given, or not downloaded)
    try:
        with custody.open(PayloadKey.batch_errors(batch.id)) as reader:
            kept = reader.read()
    except CustodyError:  # not kept (a failed download is retried at the next look)
        return None
    return Attachment(f"canvas-errors-{batch.reference}.csv", for_people(kept))


def for_people(canvas_csv: bytes) -> bytes:
    """A CSV from Canvas rewritten by ``spreadsheet_csv``, each cell without member-name
    prefixes."""
    text = canvas_csv.decode("utf-8-sig", errors="replace")
    return spreadsheet_csv([without_prefixes(cell) for cell in row]
                           for row in csv.reader(io.StringIO(text, newline="")))
