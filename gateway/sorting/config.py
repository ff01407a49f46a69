"""Per-institution sorting settings: Canvas import options, what blocks a batch, zips.

``[institutions.<name>.sorting]`` in the config; every key has a production default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.sorting.validation import BlockingPolicy, Severity, ValidationOptions
from gateway.sorting.validation.findings import severity_of

DropStatus = Literal["deleted", "completed", "inactive"]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImportDefaults(_Options):
    """Canvas import options for deliveries uploaded straight into ``/inbox``.

    Deliveries uploaded into ``/inbox/batch/<term>/`` or ``/inbox/diff/<identifier>/`` use
    those modes instead; the other keys apply to them too.
    """

    batch_mode_term: str | None = Field(default=None, min_length=1, max_length=255)
    diffing_data_set_identifier: str | None = Field(default=None, min_length=1, max_length=128)
    change_threshold: int | None = Field(default=None, ge=1, le=100)
    diff_row_count_threshold: int | None = Field(default=None, ge=1)
    batch_mode_enrollment_drop_status: DropStatus | None = None
    diffing_drop_status: DropStatus | None = None
    override_sis_stickiness: bool = False
    add_sis_stickiness: bool = False
    clear_sis_stickiness: bool = False
    skip_deletes: bool = False


class SortingOptions(_Options):
    """How an institution's uploads are validated, grouped and sent."""

    imports: ImportDefaults = ImportDefaults()
    block: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)
    block_on_warnings: bool = False
    custom_roles: list[str] = Field(default_factory=list)
    same_kind: Literal["merge", "replace", "reject"] = "merge"
    mass_change_max_drop_percent: float = Field(default=20.0, ge=0.0, le=100.0)
    zip_password_env: str | None = None
    zip_password_file: Path | None = None

    @field_validator("block")
    @classmethod
    def _known_codes(cls, value: list[str]) -> list[str]:
        BlockingPolicy.from_names(block=value)  # raises ValueError naming an unknown code
        return value

    @field_validator("allow")
    @classmethod
    def _only_warnings(cls, value: list[str]) -> list[str]:
        # A failure-class file would fail the whole Canvas import (and hold the queue), and a
        # refused one was never fully validated: only warnings can be let through.
        policy = BlockingPolicy.from_names(allow=value)
        strict = [code.value for code in policy.allow
                  if severity_of(code) is not Severity.WARNING]
        if strict:
            raise ValueError(f"{', '.join(sorted(strict))}: only warning codes can be allowed "
                             "(failure-class files would fail the whole Canvas import)")
        return value

    def validation(self) -> ValidationOptions:
        """The validator's per-institution knobs."""
        return ValidationOptions(skip_deletes=self.imports.skip_deletes,
                                 custom_roles=frozenset(self.custom_roles))

    def policy(self) -> BlockingPolicy:
        """What rejects an upload, as configured (default: Canvas's failure-class
        findings)."""
        return BlockingPolicy.from_names(block=self.block, allow=self.allow,
                                         warnings=self.block_on_warnings)


DEFAULT_SORTING = SortingOptions()
