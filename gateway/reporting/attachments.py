"""Files attached to a report: every validation finding as CSV, and Canvas's errors CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from gateway.reporting.message import Attachment
from gateway.state.records import BatchRecord, FindingRecord
from gateway.state.spool import Spool

FINDINGS_HEADER = ("file", "row", "column", "message", "fix", "blocks_batch")


def findings_csv(batch: BatchRecord, findings: Sequence[FindingRecord]) -> Attachment:
    """All findings of a batch as a CSV a spreadsheet opens (UTF-8 with BOM, CRLF)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FINDINGS_HEADER)
    for finding in findings:
        writer.writerow((finding.file, "" if finding.row is None else finding.row,
                         finding.column or "", finding.message, finding.fix,
                         "yes" if finding.blocking else "no"))
    return Attachment(f"findings-{batch.reference}.csv",
                      ("\ufeff" + buffer.getvalue()).encode("utf-8"))


def canvas_errors_csv(spool: Spool, batch: BatchRecord) -> Attachment | None:
    """The errors CSV Canvas produced for the batch's import, if the gateway kept one."""
    if not batch.errors_csv:
        return None
    path = spool.batches / batch.errors_csv
    if not path.exists():
        return None
    return Attachment(f"canvas-errors-{batch.reference}.csv", path.read_bytes())
