"""The pure parts of exports: which Canvas report a STARTING run made, the export settings'
checks and the parameters they post, and the outbox names."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.exports.config import canvas_parameters
from gateway.exports.outbox import outbox_name
from gateway.exports.steps import judge_started
from gateway.settings import ConfigError
from gateway.settings_files import settings_from_mapping

STARTED_AT = 1_800_000_000.0  # 2027-01-15T08:00:00Z
POSTED = {"users": "true", "enrollment_term_id": "sis_term_id:T1"}


def report(report_id: int, created: str, **parameters: Any) -> dict[str, Any]:
    return {"id": report_id, "created_at": created, "parameters": parameters}


def _id(found: dict[str, Any] | None) -> object:
    return None if found is None else found["id"]


def test_the_oldest_unclaimed_report_with_our_parameters_since_we_began_is_ours() -> None:
    listing = [report(9, "2027-01-15T08:00:05Z", users="True",
                      enrollment_term_id="sis_term_id:T1", locale="en"),
               report(8, "2027-01-15T08:00:03Z", **POSTED),
               report(7, "2027-01-15T08:00:01Z", **POSTED)]
    assert _id(judge_started(POSTED, STARTED_AT, listing, claimed=set())) == 7
    assert _id(judge_started(POSTED, STARTED_AT, listing, claimed={7})) == 8


def test_reports_of_others_or_from_before_are_never_ours() -> None:
    other_term = report(5, "2027-01-15T08:00:01Z", users="true",
                        enrollment_term_id="sis_term_id:T2")
    long_before = report(4, "2027-01-15T07:50:00Z", **POSTED)
    no_time = {"id": 3, "parameters": POSTED}
    assert judge_started(POSTED, STARTED_AT, [other_term, long_before, no_time],
                         claimed=set()) is None
    # Canvas's clock may run a little behind ours: within the slack it still matches.
    slightly_behind = report(6, "2027-01-15T07:59:00Z", **POSTED)
    assert _id(judge_started(POSTED, STARTED_AT, [slightly_behind], claimed=set())) == 6


def _settings(export: dict[str, Any]) -> Any:
    raw = {"institutions": {"a": {"password_hash": "$argon2id$x", "canvas": {
        "base_url": "https://canvas.test"}, "exports": [export]}}}
    return settings_from_mapping(raw, source="test.toml", environ={})


@pytest.mark.parametrize(("export", "message"), [
    ({"report": "provisioning_csv"}, "provisioning_csv needs csvs"),
    ({"report": "grade_export_csv", "csvs": ["users"]}, "csvs applies to"),
    ({"report": "grade_export_csv", "schedule": "0 25 * * *"}, "is not a cron expression"),
    ({"report": "Grades!"}, "exports.0.report"),
])
def test_bad_exports_are_refused_naming_the_key(export: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(export)


def test_time_zone_and_unique_names_are_checked() -> None:
    raw = {"institutions": {"a": {"password_hash": "$argon2id$x", "time_zone": "Mars/Olympus",
                                  "canvas": {"base_url": "https://canvas.test"},
                                  "exports": [{"report": "grade_export_csv"},
                                              {"report": "grade_export_csv"}]}}}
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(raw, source="test.toml", environ={})
    assert "not an IANA time zone" in str(caught.value)
    assert "export names must be unique" in str(caught.value)


def test_parameters_are_canvas_form_values() -> None:
    settings = _settings({"report": "sis_export_csv", "csvs": ["users", "enrollments"],
                          "term": "sis_term_id:2026", "include_deleted": True,
                          "parameters": {"limiting_period": 30}})
    [export] = settings.institutions["a"].exports
    assert canvas_parameters(export) == {
        "enrollment_term_id": "sis_term_id:2026", "enrollments": "true",
        "include_deleted": "true", "limiting_period": "30", "users": "true"}


def test_outbox_names_carry_the_time_the_report_and_the_kind() -> None:
    assert outbox_name("sis_export_csv", STARTED_AT, "sis_export_csv_15_Jan_2027_3_.zip") \
        == "20270115-080000Z-sis_export_csv.zip"
    assert outbox_name("grade_export_csv", STARTED_AT, "") == \
        "20270115-080000Z-grade_export_csv.csv"
