"""The values validation returns: ``FileVerdict`` (its options are in ``options``)."""

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
from gateway.sorting.validation.options import ValidationOptions
from gateway.state.records import FindingRecord

__all__ = ["FileVerdict", "ValidationOptions"]  # ValidationOptions: its old home

if TYPE_CHECKING:
    from gateway.sorting.validation.idcheck import FileIds


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
