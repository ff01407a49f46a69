"""SisImport JSON (§2.1): fields, timestamps, message caps, attachments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gateway.sandbox.errorfile import ErrorsFile, SisError
from gateway.sandbox.records import (
    ImportOptions,
    Outcome,
    SisImportRecord,
    UploadedFile,
    WorkflowState,
    capped,
    iso8601,
    to_json,
)

MOMENT = datetime(2026, 11, 22, 11, 10, 26, 987654, tzinfo=UTC)


def record(**changes: Any) -> SisImportRecord:
    base = SisImportRecord(
        id=3,
        account_id="1",
        attachment_id=9,
        created_at=MOMENT,
        updated_at=MOMENT,
        workflow_state=WorkflowState.CREATED,
        options=ImportOptions(),
        upload=UploadedFile("users.csv", "text/csv", b"abc"),
    )
    return replace(base, **changes)


def test_timestamps_are_whole_seconds_utc_with_z() -> None:
    assert iso8601(MOMENT) == "2026-11-22T11:10:26Z"
    assert iso8601(None) is None


def test_created_import_json() -> None:
    body = to_json(record())
    assert body["id"] == 3
    assert body["workflow_state"] == "created"
    assert body["progress"] == 0
    assert body["started_at"] is None
    assert body["data"] == {"import_type": "instructure_csv"}
    assert body["skip_deletes"] is False
    assert body["update_sis_id_if_login_claimed"] is False
    assert body["batch_mode"] is None
    assert "processing_errors" not in body
    assert "processing_warnings" not in body
    assert "diffing_threshold_exceeded" not in body
    [attachment] = body["csv_attachments"]
    assert attachment["id"] == 9
    assert attachment["display_name"] == attachment["filename"] == "users.csv"
    assert attachment["size"] == 3
    assert attachment["content-type"] == "text/csv"


def test_diffing_threshold_field_only_with_an_identifier() -> None:
    body = to_json(record(options=ImportOptions(diffing_data_set_identifier="x")))
    assert body["diffing_threshold_exceeded"] is None


def test_messages_are_capped_at_24_with_a_summary_pair() -> None:
    messages = tuple((f"f{i}.csv", f"m{i}") for i in range(30))
    pairs = capped(messages, "warnings")
    assert len(pairs) == 25
    assert pairs[0] == ["f0.csv", "m0"]
    assert pairs[-1] == [
        "and 6 more warnings that were not included",
        "Download the error file to see all warnings.",
    ]
    assert len(capped(messages[:24], "errors")) == 24


def test_finished_import_json_has_data_and_messages() -> None:
    outcome = Outcome(
        supplied_batches=("user",),
        completed_importers=("user",),
        counts={"users": 1, "error_count": 1, "warning_count": 0},
        problems=(SisError(None, "boom", failure=True),),
        running_immediately=True,
    )
    body = to_json(record(outcome=outcome, workflow_state=WorkflowState.FAILED_WITH_MESSAGES))
    assert body["data"]["supplied_batches"] == ["user"]
    assert body["data"]["counts"]["users"] == 1
    assert body["processing_errors"] == [[None, "boom"]]


def test_errors_attachment_and_exception_failures_in_json() -> None:
    errors_file = ErrorsFile(11, 3, "v" * 40, MOMENT, b"sis_import_id,file,message,row\n")
    outcome = Outcome(("user",), ("user",), {"error_count": 0}, error_message="boom")
    body = to_json(
        record(outcome=outcome, errors_file=errors_file, workflow_state=WorkflowState.FAILED),
        "http://h:1",
    )
    attachment = body["errors_attachment"]
    assert attachment["id"] == 11
    assert attachment["filename"] == "sis_errors_attachment_3.csv"
    assert attachment["url"] == f"http://h:1/files/11/download?download_frd=1&verifier={'v' * 40}"
    assert attachment["size"] == 31
    assert body["data"]["error_message"] == "boom"
    assert body["data"]["stack_trace"].startswith("boom\n")
    assert outcome.final_state is WorkflowState.FAILED
    assert (outcome.final_progress, outcome.records_end) == (0, False)
    assert "errors_attachment" not in to_json(record())


def test_with_problem_recounts() -> None:
    outcome = Outcome((), (), {"error_count": 0, "warning_count": 0})
    grown = outcome.with_problem(SisError(None, "w")).with_problem(SisError("f", "e", failure=True))
    assert (grown.counts["error_count"], grown.counts["warning_count"]) == (1, 1)
    assert grown.errors == (("f", "e"),)
    assert grown.warnings == ((None, "w"),)
