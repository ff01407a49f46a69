"""SIS import errors as Canvas stores them (SisBatchError) and the error file (§1.6).

Canvas records every problem of an import as one SisBatchError row: failures (`failure`
true, the import fails) and warnings together.  When an import ends with any of them,
`write_errors_to_file` writes `sis_errors_attachment_<id>.csv` with the header
`sis_import_id,file,message,row`, one line per error, and attaches it to the batch; the API
then shows it as `errors_attachment`, a File object whose `url` carries a verifier token.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime

ERRORS_CSV_TYPE = "text/csv"
_VERIFIER_ALPHABET = string.ascii_letters + string.digits
_VERIFIER_LENGTH = 40  # Canvas's attachment uuid: 40 alphanumeric characters
DOWNLOAD_PATH = re.compile(r"/files/(?P<id>\d+)/download/?")


@dataclass(frozen=True)
class SisError:
    """One SisBatchError: the file (None for batch-level messages), the message, whether it
    fails the import, the 1-based parsed row number (header = row 1) and the row's text."""

    file: str | None
    message: str
    failure: bool = False
    row: int | None = None
    row_info: str | None = None


@dataclass(frozen=True)
class ErrorsFile:
    """The error CSV attached to one import, downloadable with its verifier."""

    attachment_id: int
    import_id: int
    verifier: str
    created_at: datetime
    content: bytes = field(repr=False)

    @property
    def filename(self) -> str:
        return f"sis_errors_attachment_{self.import_id}.csv"

    @property
    def download_path(self) -> str:
        """Path and query of the download URL (Canvas's `file_download_url` form)."""
        return f"/files/{self.attachment_id}/download?download_frd=1&verifier={self.verifier}"


def new_verifier() -> str:
    """A fresh, unguessable verifier token."""
    return "".join(secrets.choice(_VERIFIER_ALPHABET) for _ in range(_VERIFIER_LENGTH))


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
