"""What an institution exports, and how the exporter runs (the ``exports`` settings).

``[[institutions.<name>.exports]]`` each name one Canvas account report, its parameters and
when it runs; ``[exports]`` holds the exporter's timing.  Parameters are turned into Canvas's
form fields (``parameters[<key>]``) by :func:`canvas_parameters`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SIS_CSVS = ("users", "accounts", "terms", "courses", "sections", "enrollments", "groups",
            "group_membership", "xlist")
"""The CSVs a provisioning or SIS export can hold (canvas-lms
``gems/plugins/account_reports/lib/account_reports/sis_exporter.rb``, ``SIS_CSV_REPORTS``)."""
SIS_REPORTS = ("provisioning_csv", "sis_export_csv")

SisCsv = Literal["users", "accounts", "terms", "courses", "sections", "enrollments", "groups",
                 "group_membership", "xlist"]
ParameterValue = str | bool | int


class ExportSettings(BaseModel):
    """One export of an institution: a Canvas account report, its parameters and its triggers.

    ``name`` names the export (and its folder ``/outbox/<name>/``); it defaults to the
    report's name.  ``schedule`` is a 5-field cron expression in the institution's
    ``time_zone``; ``after_import`` runs it after each successful import; ``on_request``
    lets the vendor ask for a run by uploading ``/inbox/requests/<name>`` (at most one
    requested run waits at a time, and requests come at least ``request_interval_seconds``
    apart: a vendor's loop cannot queue runs without bound); ``run_at_start`` runs it when
    the gateway starts (the demo uses it), unless a start run of it was queued
    less than ``request_interval_seconds`` ago (a restart loop starts one Canvas report).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    report: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    term: str | None = None
    include_deleted: bool = False
    csvs: list[SisCsv] = Field(default_factory=list)
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    schedule: str | None = None
    after_import: bool = False
    on_request: bool = True
    run_at_start: bool = False
    request_interval_seconds: float = Field(default=900.0, ge=0.0)
    retention_days: float = Field(default=30.0, gt=0.0)

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CronSim(value, datetime.now(UTC))
            except CronSimError as error:
                raise ValueError(f"{value!r} is not a cron expression like '0 2 * * *' "
                                 f"(minute hour day month weekday): {error}") from None
        return value

    @model_validator(mode="after")
    def _check_csvs(self) -> ExportSettings:
        if self.report in SIS_REPORTS and not self.csvs:
            raise ValueError(f"{self.report} needs csvs, e.g. csvs = [\"users\", "
                             "\"enrollments\"] (which CSVs Canvas puts in the report)")
        if self.csvs and self.report not in SIS_REPORTS:
            raise ValueError(f"csvs applies to {' and '.join(SIS_REPORTS)} only")
        return self

    @property
    def export_name(self) -> str:
        """The export's name: ``name``, else the report's."""
        return self.name or self.report


class ExportsSettings(BaseModel):
    """``[exports]``: how the exporter polls Canvas, retries and gives up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_initial_seconds: float = Field(default=2.0, gt=0.0)
    poll_max_seconds: float = Field(default=60.0, gt=0.0)
    retry_initial_seconds: float = Field(default=10.0, gt=0.0)
    retry_max_seconds: float = Field(default=900.0, gt=0.0)
    lifetime_seconds: float = Field(default=12 * 3600.0, gt=0.0)
    reconcile_grace_seconds: float = Field(default=30.0, ge=0.0)
    max_report_bytes: int = Field(default=1 << 30, gt=0)
    request_timeout_seconds: float = Field(default=60.0, gt=0.0)


def canvas_parameters(export: ExportSettings) -> dict[str, str]:
    """The ``parameters`` of Canvas's Start a Report call, as plain strings (the form values
    Canvas receives); ``term`` is Canvas's ``enrollment_term_id`` (a Canvas id or
    ``sis_term_id:<id>``)."""
    values: dict[str, ParameterValue] = dict.fromkeys(export.csvs, True)
    if export.term is not None:
        values["enrollment_term_id"] = export.term
    if export.include_deleted:
        values["include_deleted"] = True
    values.update(export.parameters)
    return {key: _text(value) for key, value in sorted(values.items())}


def _text(value: ParameterValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
