"""One entry point per upload: a ``.csv`` or a ``.zip`` as Canvas would take it.

Canvas imports ``.zip`` (case-insensitive) and ``.csv`` uploads; anything else imports
nothing, so the gateway refuses it with the reason.
"""

from __future__ import annotations

from pathlib import Path

from gateway.sorting.validation.csvfile import Progress, validate_file
from gateway.sorting.validation.findings import Code, Finding, FindingLog
from gateway.sorting.validation.verdicts import FileVerdict, ValidationOptions
from gateway.sorting.validation.zips import ZipLimits, ZipVerdict, validate_zip

UploadVerdict = FileVerdict | ZipVerdict


def validate_upload(path: Path, display_name: str, *, password: bytes | None = None,
                    limits: ZipLimits | None = None, options: ValidationOptions | None = None,
                    on_progress: Progress | None = None) -> UploadVerdict:
    """Validate one received upload by its sender's name; never raises for its content."""
    lowered = display_name.lower()
    if lowered.endswith(".zip"):
        return validate_zip(path, display_name, password, limits=limits, options=options,
                            on_progress=on_progress)
    if lowered.endswith(".csv"):
        return validate_file(path, display_name, options, on_progress)
    log = FindingLog()
    log.add(Finding(Code.NOT_SIS_FILE, display_name, None, None,
                    "Canvas imports .csv and .zip files only", "rename or convert the file"))
    return FileVerdict.of(display_name, None, None, log)


def csv_verdicts(verdict: UploadVerdict) -> tuple[FileVerdict, ...]:
    """The CSV verdicts an upload contributes to a batch (a zip's members, or itself)."""
    return verdict.members if isinstance(verdict, ZipVerdict) else (verdict,)
