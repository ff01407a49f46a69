"""The values validation returns: options in, ``FileVerdict`` out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.sorting.kinds import SisKind
from gateway.sorting.validation.findings import (
    BlockingPolicy,
    Code,
    Finding,
    FindingLog,
    Severity,
    severity_of,
)
from gateway.state.records import FindingRecord

if TYPE_CHECKING:
    from gateway.sorting.validation.idcheck import FileIds


@dataclass(frozen=True)
class ValidationOptions:
    """Per-institution knobs of validation.

    ``skip_deletes`` mirrors the import option (Canvas then skips deleted rows before some
    checks); ``custom_roles`` are the account's custom enrollment role names (exact case);
    ``max_findings`` bounds the findings kept per file (all are counted); ``record_limit``
    bounds one record's characters; ``id_rows`` bounds the rows whose ids are tracked for
    duplicate and reference checks (8 bytes of temporary disk per id past the first
    quarter million: memory stays flat); ``named_duplicates`` bounds the
    repeated ids named per column (all are counted).
    """

    skip_deletes: bool = False
    custom_roles: frozenset[str] = frozenset()
    max_findings: int = 1000
    record_limit: int = 131_072
    id_rows: int = 100_000_000
    named_duplicates: int = 20


@dataclass(frozen=True)
class FileVerdict:
    """One CSV's verdict: its kind (None when unrecognised), its data rows (None when it
    could not be read through), the first findings and the count of all of them by code.

    ``ids`` holds the compact id digests the batch check needs (None when the file failed).
    """

    name: str
    kind: SisKind | None
    rows: int | None
    findings: tuple[Finding, ...]
    counts: Mapping[Code, int]
    ids: FileIds | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, name: str, kind: SisKind | None, rows: int | None, log: FindingLog,
           ids: FileIds | None = None) -> FileVerdict:
        return cls(name, kind, rows, tuple(log.kept), dict(log.counts), ids)

    @property
    def total(self) -> int:
        """All findings, stored or only counted."""
        return sum(self.counts.values())

    @property
    def omitted(self) -> int:
        """Findings counted but not stored."""
        return self.total - len(self.findings)

    @property
    def failure_class(self) -> bool:
        """True when Canvas would fail on this file or the gateway refuses it."""
        return any(count and severity_of(code) is not Severity.WARNING
                   for code, count in self.counts.items())

    def blocked(self, policy: BlockingPolicy) -> bool:
        """True when any finding of this file (stored or not) rejects its upload."""
        return policy.blocks_any(self.counts)

    def records(self, policy: BlockingPolicy) -> list[FindingRecord]:
        """The stored findings as the store keeps them, with a last line for the omitted."""
        records = [policy.record(finding) for finding in self.findings]
        if self.omitted:
            records.append(FindingRecord(
                file=self.name, row=None, column=None,
                message=f"and {self.omitted} more findings in this file",
                fix="run `gateway validate` on the file to see them all",
                blocking=False))
        return records
