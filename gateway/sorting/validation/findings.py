"""What validation finds, how serious it is, and what blocks a batch.

Every finding carries a stable ``Code`` (the "message kind" an institution's policy can name),
Canvas's own message text where Canvas has one, the 1-based row as Canvas counts it (header =
row 1, blank lines not counted), the column, and a short fix for the sender.

Severities follow Canvas's classes (reference §2.3):

- ``FAILURE``: Canvas marks the error ``failure = true`` and the whole import ends
  ``failed_with_messages`` (invalid UTF-8, malformed CSV, unrecognised header, an unreadable
  zip);
- ``REFUSAL``: the gateway will not send the file for its own reasons (empty file,
  absurdly long records, zip bombs and path tricks, a zip it cannot decrypt, a file its
  checks failed on: ``CHECK_FAILED``, which no policy can allow);
- ``WARNING``: a row-level message (Canvas skips the row or imports it with a warning) or a
  plausibility warning of the gateway (duplicates, references not in the batch).

FAILURE and REFUSAL are *failure-class*: by default they block, warnings do not.  A finding
that blocks rejects the upload it is in (a CSV, or a whole zip): that upload is not sent, and
the rest of the delivery goes on without it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.state.records import FindingRecord


class Severity(StrEnum):
    """How serious a finding is (see the module docstring)."""

    FAILURE = "failure"
    REFUSAL = "refusal"
    WARNING = "warning"


class Code(StrEnum):
    """The kinds of findings; policies name these to block or allow them."""

    # Canvas failure-class errors.
    INVALID_UTF8 = "invalid_utf8"
    MALFORMED_CSV = "malformed_csv"
    UNKNOWN_HEADER = "unknown_header"
    ZIP_CORRUPT = "zip_corrupt"
    # Refused by the gateway.
    NOT_SIS_FILE = "not_sis_file"
    EMPTY_FILE = "empty_file"
    RECORD_TOO_LONG = "record_too_long"
    ZIP_UNSAFE_PATH = "zip_unsafe_path"
    ZIP_TOO_LARGE = "zip_too_large"
    ZIP_ENCRYPTED = "zip_encrypted"
    CHECK_FAILED = "check_failed"
    # Row-level and plausibility warnings.
    MISSING_VALUE = "missing_value"
    IMPROPER_STATUS = "improper_status"
    IMPROPER_ROLE = "improper_role"
    BAD_DATE = "bad_date"
    INVALID_VALUE = "invalid_value"
    CONFLICTING_VALUES = "conflicting_values"
    NUL_BYTE = "nul_byte"  # a row with a NUL character: Canvas skips that row only
    UNKNOWN_FILE_TYPE = "unknown_file_type"
    HEADER_ONLY = "header_only"
    DUPLICATE_COLUMN = "duplicate_column"
    DUPLICATE_ID = "duplicate_id"
    UNKNOWN_REFERENCE = "unknown_reference"
    CHECKS_LIMITED = "checks_limited"


_SEVERITY_OF: dict[Code, Severity] = {
    Code.INVALID_UTF8: Severity.FAILURE,
    Code.MALFORMED_CSV: Severity.FAILURE,
    Code.UNKNOWN_HEADER: Severity.FAILURE,
    Code.ZIP_CORRUPT: Severity.FAILURE,
    Code.NOT_SIS_FILE: Severity.REFUSAL,
    Code.EMPTY_FILE: Severity.REFUSAL,
    Code.RECORD_TOO_LONG: Severity.REFUSAL,
    Code.ZIP_UNSAFE_PATH: Severity.REFUSAL,
    Code.ZIP_TOO_LARGE: Severity.REFUSAL,
    Code.ZIP_ENCRYPTED: Severity.REFUSAL,
    Code.CHECK_FAILED: Severity.REFUSAL,
}

UNWAIVABLE = frozenset({Code.CHECK_FAILED})
"""Codes no policy can allow: a file the gateway could not check is never sent."""


def severity_of(code: Code) -> Severity:
    """The severity every finding of ``code`` has."""
    return _SEVERITY_OF.get(code, Severity.WARNING)


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: its code, where it is (file, Canvas row, column), what, and the fix."""

    code: Code
    file: str
    row: int | None
    column: str | None
    message: str
    fix: str

    @property
    def severity(self) -> Severity:
        return severity_of(self.code)

    @property
    def failure_class(self) -> bool:
        """True for FAILURE and REFUSAL findings (they block under the default policy)."""
        return self.severity is not Severity.WARNING


@dataclass
class FindingLog:
    """Collects one file's findings: keeps the first ``limit``, counts all of them by code.

    Bounded so a million bad rows cannot exhaust memory; the counts stay exact.
    """

    limit: int = 1000
    kept: list[Finding] = field(default_factory=list)
    counts: Counter[Code] = field(default_factory=Counter)

    def add(self, finding: Finding) -> None:
        self.counts[finding.code] += 1
        if len(self.kept) < self.limit:
            self.kept.append(finding)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class BlockingPolicy:
    """What rejects an upload (see the module docstring), per institution.

    Default: failure-class findings block, warnings are reported and the batch goes on.
    ``block`` adds warning codes that block too; ``warnings`` makes every warning block;
    ``allow`` names failure-class codes that do not block (the file is still left out of
    the batch by the sorter if Canvas could not import it; the batch itself goes on).
    """

    block: frozenset[Code] = frozenset()
    allow: frozenset[Code] = frozenset()
    warnings: bool = False

    @classmethod
    def from_names(cls, block: Iterable[str] = (), allow: Iterable[str] = (),
                   warnings: bool = False) -> BlockingPolicy:
        """Build from configuration strings; raises ValueError naming an unknown code."""
        return cls(block=_codes(block), allow=_codes(allow), warnings=warnings)

    def blocks_code(self, code: Code) -> bool:
        """True when a finding with ``code`` rejects the upload it is in."""
        if code in self.allow and code not in UNWAIVABLE:
            return False
        if severity_of(code) is not Severity.WARNING:
            return True
        return self.warnings or code in self.block

    def blocks(self, finding: Finding) -> bool:
        return self.blocks_code(finding.code)

    def blocks_any(self, counts: Mapping[Code, int]) -> bool:
        """True when any of the counted findings (stored or not) rejects its upload."""
        return any(self.blocks_code(code) for code, count in counts.items() if count)

    def record(self, finding: Finding) -> FindingRecord:
        """The finding as the store keeps it (``txn.add_finding``)."""
        return FindingRecord(file=finding.file, row=finding.row, column=finding.column,
                             message=finding.message, fix=finding.fix,
                             blocking=self.blocks(finding))


def _codes(names: Iterable[str]) -> frozenset[Code]:
    known = {code.value for code in Code}
    codes = []
    for name in names:
        if name not in known:
            raise ValueError(f"unknown finding code {name!r}; known: {', '.join(sorted(known))}")
        codes.append(Code(name))
    return frozenset(codes)
