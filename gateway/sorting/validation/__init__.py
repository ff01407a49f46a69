"""Canvas-faithful validation of SIS CSVs and zips (README "Validation").

Contract for callers (the sorter, ``gateway validate``):

- ``validate_upload(path, name, password=, limits=, options=, on_progress=)`` ->
  ``FileVerdict`` (a CSV, or a refused other extension) or ``ZipVerdict`` (zip-level
  findings + one ``FileVerdict`` per CSV member).  Never raises for the file's content.
- ``validate_file`` / ``validate_zip`` are the two halves; ``validate_source`` takes an
  opener instead of a path.
- ``check_batch(verdicts)`` -> batch-level warnings across the CSVs of one batch (ids
  repeated between files, references to ids the batch's files of that kind lack).  Run it in
  the same process as the validation: digests are per process.
- ``BlockingPolicy`` decides what stops a batch; ``verdict.blocked(policy)`` and
  ``verdict.records(policy)`` (``FindingRecord`` values for ``txn.add_finding``).
- A ``FileVerdict`` keeps the first ``options.max_findings`` findings and counts them all.
"""

from gateway.sorting.validation.batch import check_batch
from gateway.sorting.validation.csvfile import validate_file, validate_source
from gateway.sorting.validation.findings import BlockingPolicy, Code, Finding, Severity
from gateway.sorting.validation.uploads import UploadVerdict, csv_verdicts, validate_upload
from gateway.sorting.validation.verdicts import FileVerdict, ValidationOptions
from gateway.sorting.validation.zips import ZipLimits, ZipVerdict, validate_zip

__all__ = [
    "BlockingPolicy",
    "Code",
    "FileVerdict",
    "Finding",
    "Severity",
    "UploadVerdict",
    "ValidationOptions",
    "ZipLimits",
    "ZipVerdict",
    "check_batch",
    "csv_verdicts",
    "validate_file",
    "validate_source",
    "validate_upload",
    "validate_zip",
]
