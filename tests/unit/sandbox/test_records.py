"""SisImport JSON (§2.1): fields, timestamps, message caps, user, attachments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gateway.sandbox.errorfile import SisError
from gateway.sandbox.files import StoredFile
from gateway.sandbox.records import (
    BatchData,
    End,
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
        user_id=5,
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
    # The uploaded file is never shown; nothing is listed before processing.
    assert "csv_attachments" not in body
    assert "errors_attachment" not in body
    assert "user" not in body  # only when the caller passes the creator's JSON
    assert to_json(record(), user={"id": 5})["user"] == {"id": 5}


def test_diffing_threshold_field_only_with_an_identifier_and_false_by_default() -> None:
    body = to_json(record(options=ImportOptions(diffing_data_set_identifier="x")))
    assert body["diffing_threshold_exceeded"] is False


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
    data = BatchData(supplied_batches=("user",), counts=outcome.counts)
    body = to_json(
        record(outcome=outcome, data=data, workflow_state=WorkflowState.FAILED_WITH_MESSAGES)
    )
    assert body["data"]["supplied_batches"] == ["user"]
    assert body["data"]["counts"]["users"] == 1
    assert body["processing_errors"] == [[None, "boom"]]


def test_errors_attachment_uses_the_given_verifier() -> None:
    errors_file = StoredFile(
        11, "sis_errors_attachment_3.csv", "3_tmp.csv", "csv", "u" * 40, MOMENT, b"x" * 31
    )
    body = to_json(record(errors_file=errors_file), "http://h:1", errors_verifier="tok")
    attachment = body["errors_attachment"]
    assert attachment["id"] == 11
    assert attachment["display_name"] == "sis_errors_attachment_3.csv"
    assert attachment["content-type"] == "csv"
    assert attachment["url"] == "http://h:1/files/11/download?download_frd=1&verifier=tok"
    assert attachment["size"] == 31


def test_csv_attachments_are_the_listed_files_in_id_order() -> None:
    files = tuple(
        StoredFile(i, f"f{i}.csv", f"f{i}.csv", "text/csv", str(i) * 40, MOMENT, b"a")
        for i in (12, 10, 11)
    )
    data = BatchData(downloadable_attachment_ids=(12, 10))
    body = to_json(record(files=files, data=data), "http://h")
    assert [a["display_name"] for a in body["csv_attachments"]] == ["f10.csv", "f12.csv"]
    assert body["csv_attachments"][0]["url"] == (
        f"http://h/files/10/download?download_frd=1&verifier={'10' * 40}"
    )
    assert body["data"]["downloadable_attachment_ids"] == [12, 10]


def test_data_keys_in_canvas_order_and_absent_when_unset() -> None:
    data = BatchData(
        downloadable_attachment_ids=(),
        supplied_batches=("user",),
        counts={"users": 1},
        running_immediately=True,
        completed_importers=("user",),
        statistics={"total_state_changes": 0},
    )
    assert list(data.to_json("instructure_csv")) == [
        "import_type",
        "downloadable_attachment_ids",
        "supplied_batches",
        "counts",
        "running_immediately",
        "completed_importers",
        "statistics",
    ]
    rescued = BatchData(error_message="boom", stack_trace="boom\n")
    assert rescued.to_json("instructure_csv") == {
        "import_type": "instructure_csv",
        "error_message": "boom",
        "stack_trace": "boom\n",
    }


def test_ends_decide_state_progress_and_ended_at() -> None:
    failure = (SisError(None, "crash", failure=True),)
    rescued = Outcome((), (), {}, error_message="boom", end=End.RESCUED)
    assert (rescued.final_state, rescued.final_progress, rescued.records_end) == (
        WorkflowState.FAILED,
        None,
        False,
    )
    crashed = Outcome((), (), {}, failure, end=End.CRASHED)
    assert (crashed.final_state, crashed.final_progress) == (
        WorkflowState.FAILED_WITH_MESSAGES,
        0,
    )
    died = Outcome((), (), {}, end=End.JOB_FAILED)
    assert (died.final_state, died.final_progress) == (WorkflowState.FAILED, 0)
    aborted = Outcome((), (), {}, (SisError(None, "over"),), end=End.ABORTED)
    assert (aborted.final_state, aborted.final_progress) == (WorkflowState.ABORTED, 100)


def test_with_problem_recounts() -> None:
    outcome = Outcome((), (), {"error_count": 0, "warning_count": 0})
    grown = outcome.with_problem(SisError(None, "w")).with_problem(SisError("f", "e", failure=True))
    assert (grown.counts["error_count"], grown.counts["warning_count"]) == (1, 1)
    assert grown.errors == (("f", "e"),)
    assert grown.warnings == ((None, "w"),)
