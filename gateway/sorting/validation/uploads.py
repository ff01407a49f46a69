"""One entry point per upload: a ``.csv`` or a ``.zip`` as Canvas would take it.

Canvas imports ``.zip`` (case-insensitive) and ``.csv`` uploads; anything else imports
nothing, so the gateway refuses it with the reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.sorting.validation.csvfile import Progress, validate_file
from gateway.sorting.validation.findings import Code, Finding, FindingLog
from gateway.sorting.validation.verdicts import FileVerdict, ValidationOptions
from gateway.sorting.validation.zips import ZipLimits, ZipVerdict, validate_zip

UploadVerdict = FileVerdict | ZipVerdict

log = logging.getLogger(__name__)


def validate_upload(path: Path, display_name: str, *, password: bytes | None = None,
                    limits: ZipLimits | None = None, options: ValidationOptions | None = None,
                    on_progress: Progress | None = None) -> UploadVerdict:
    """Validate one received upload by its sender's name; never raises (``Exception``).

    Damaged or hostile content is a finding of its own kind.  Anything else the checks
    raise (a bug, an unreadable spool file) refuses the upload with ``CHECK_FAILED``: one
    upload the gateway could not check is never sent, and never stops the others.
    """
    try:
        return _validate(path, display_name, password=password, limits=limits,
                         options=options, on_progress=on_progress)
    except Exception as error:
        log.exception("validation failed", extra={"file": display_name})
        return check_failed(display_name, error)


def check_failed(display_name: str, error: BaseException) -> FileVerdict:
    """The verdict of a file the gateway's checks failed on (``error`` named, not shown in
    full: its text may quote the file)."""
    found = FindingLog()
    found.add(Finding(Code.CHECK_FAILED, display_name, None, None,
                      f"The gateway could not check this file ({type(error).__name__}); "
                      "it was not sent to Canvas and the gateway's operators were alerted",
                      "upload the file again; if this repeats, ask the gateway's operators"))
    return FileVerdict.of(display_name, None, None, found)


def _validate(path: Path, display_name: str, *, password: bytes | None,
              limits: ZipLimits | None, options: ValidationOptions | None,
              on_progress: Progress | None) -> UploadVerdict:
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
