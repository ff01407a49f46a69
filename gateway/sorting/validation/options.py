"""What validation is told: :class:`ValidationOptions`, on their own so that every part of
validation (the id checks included) can read them without importing the verdicts."""

from __future__ import annotations

from dataclasses import dataclass


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
