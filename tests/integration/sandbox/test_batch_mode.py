"""Batch mode over real HTTP: term lookup, deletions, cleanup_batch, change_threshold (§5)."""

from __future__ import annotations

import time
from typing import Any

import requests

from gateway.sandbox import CanvasSandbox
from tests.integration.sandbox.calls import AUTH, NOT_FOUND, TERMINAL, make_zip

TERMS = b"term_id,name,status\nT1,Fall,active\nT2,Spring,active\n"
COURSES = (
    b"course_id,short_name,long_name,status,term_id\n"
    b"C1,c1,Course 1,active,T1\nC2,c2,Course 2,active,T1\nC3,c3,Course 3,active,T2\n"
)
SECTIONS = b"section_id,course_id,name,status\nS1,C1,One,active\nS2,C2,Two,active\n"
ENROLLMENTS = (
    b"course_id,section_id,user_id,role,status\n"
    b",S1,U1,student,active\nC2,,U2,student,active\nC3,,U3,student,active\n"
)




def run(api: str, members: dict[str, bytes], **fields: str) -> tuple[dict[str, Any], set[str]]:
    """Post a zip, poll it to a terminal state; return it and every state seen."""
    files = {"attachment": ("batch.zip", make_zip(members))}
    created = requests.post(api, headers=AUTH, files=files, data=fields)
    assert created.status_code == 200, created.text
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        body: dict[str, Any] = requests.get(f"{api}/{created.json()['id']}", headers=AUTH).json()
        seen.add(body["workflow_state"])
        if body["workflow_state"] in TERMINAL:
            return body, seen
        time.sleep(0.01)
    raise AssertionError(f"import never finished: {seen}")


def setup_account(api: str) -> None:
    members = {
        "terms.csv": TERMS,
        "courses.csv": COURSES,
        "sections.csv": SECTIONS,
        "enrollments.csv": ENROLLMENTS,
    }
    body, _ = run(api, members)
    assert body["workflow_state"] == "imported"


def test_batch_mode_deletes_what_the_import_did_not_touch_in_the_term(
    sandbox: CanvasSandbox, api: str
) -> None:
    setup_account(api)
    members = {
        "courses.csv": b"course_id,short_name,long_name,status,term_id\nC1,c1,Course 1,active,T1\n",
        "sections.csv": b"section_id,course_id,name,status\nS1,C1,One,active\n",
        "enrollments.csv": b"section_id,user_id,role,status\nS1,U1,student,active\n",
    }
    body, seen = run(api, members, batch_mode="1", batch_mode_term_id="sis_term_id:T1")
    assert {"importing", "cleanup_batch"} <= seen
    assert (body["workflow_state"], body["progress"], body["batch_mode"]) == ("imported", 100, True)
    assert isinstance(body["batch_mode_term_id"], int)
    counts = body["data"]["counts"]
    assert (
        counts["batch_courses_deleted"],
        counts["batch_sections_deleted"],
        counts["batch_enrollments_deleted"],
    ) == (1, 1, 1)
    assert sandbox.sis_objects("1") == {
        "terms": ["T1", "T2"],
        "courses": ["C1", "C3"],  # C3 is in T2: untouched
        "sections": ["S1"],
        "enrollments": ["U1|S1|student|", "U3|default:C3|student|"],
    }
    # The Canvas id resolves the term too; this time nothing is left to delete.
    again, _ = run(api, members, batch_mode="1", batch_mode_term_id=str(body["batch_mode_term_id"]))
    assert again["data"]["counts"]["batch_courses_deleted"] == 0


def test_header_only_file_deletes_every_sis_object_of_its_type_in_the_term(
    sandbox: CanvasSandbox, api: str
) -> None:
    setup_account(api)
    header_only = {"courses.csv": b"course_id,short_name,long_name,status,term_id\n"}
    body, _ = run(api, header_only, batch_mode="true", batch_mode_term_id="sis_term_id:T1")
    assert body["workflow_state"] == "imported"
    assert body["data"]["counts"]["batch_courses_deleted"] == 2
    assert "batch_sections_deleted" not in body["data"]["counts"]  # sections not supplied
    assert sandbox.sis_objects("1")["courses"] == ["C3"]


def test_change_threshold_exceeded_aborts_and_deletes_nothing(
    sandbox: CanvasSandbox, api: str
) -> None:
    setup_account(api)
    one_of_two = {"enrollments.csv": b"section_id,user_id,role,status\nS1,U1,student,active\n"}
    before = sandbox.sis_objects("1")
    body, seen = run(
        api, one_of_two, batch_mode="1", batch_mode_term_id="sis_term_id:T1", change_threshold="20"
    )
    assert "cleanup_batch" in seen
    assert (body["workflow_state"], body["progress"]) == ("aborted", 100)
    message = "1 enrollments would be deleted and exceeds the set threshold of 20%"
    assert body["processing_warnings"] == [[None, message]]
    assert body["data"]["counts"]["warning_count"] == 1
    assert "batch_enrollments_deleted" not in body["data"]["counts"]
    assert body["ended_at"] is not None
    assert message in requests.get(body["errors_attachment"]["url"]).text
    assert sandbox.sis_objects("1") == before
    # 1 of 2 is 50%: equal to the threshold, which does not abort.
    body, _ = run(
        api, one_of_two, batch_mode="1", batch_mode_term_id="sis_term_id:T1", change_threshold="50"
    )
    assert body["workflow_state"] == "imported"
    assert body["data"]["counts"]["batch_enrollments_deleted"] == 1


def test_unknown_or_deleted_term_is_404_and_creates_nothing(
    sandbox: CanvasSandbox, api: str
) -> None:
    setup_account(api)
    run(api, {"terms.csv": b"term_id,name,status\nT2,Spring,deleted\n"})
    for reference in ("sis_term_id:NOPE", "sis_term_id:T2", "999", "T1"):
        response = requests.post(
            api,
            headers=AUTH,
            files={"attachment": ("c.csv", COURSES)},
            data={"batch_mode": "1", "batch_mode_term_id": reference},
        )
        assert (response.status_code, response.json()) == (404, NOT_FOUND), reference
    assert len(sandbox.imports("1")) == 2


def test_multi_term_batch_mode_uses_the_terms_of_the_import(
    sandbox: CanvasSandbox, api: str
) -> None:
    setup_account(api)
    members = {
        "terms.csv": b"term_id,name,status\nT1,Fall,active\n",
        "courses.csv": b"course_id,short_name,long_name,status,term_id\nC1,c1,Course 1,active,T1\n",
    }
    body, _ = run(api, members, multi_term_batch_mode="1", change_threshold="100")
    assert (body["workflow_state"], body["multi_term_batch_mode"]) == ("imported", True)
    assert body["data"]["counts"]["batch_courses_deleted"] == 1
    assert sandbox.sis_objects("1")["courses"] == ["C1", "C3"]
    without_terms = {"courses.csv": members["courses.csv"]}
    body, _ = run(api, without_terms, multi_term_batch_mode="1", change_threshold="100")
    assert body["workflow_state"] == "aborted"
    assert body["processing_warnings"] == [
        [None, "Terms not found. Terms must be included with multi_term_batch_mode"]
    ]


def test_enrollment_drop_status_completes_instead_of_deleting(
    sandbox: CanvasSandbox, api: str
) -> None:
    setup_account(api)
    one = {"enrollments.csv": b"section_id,user_id,role,status\nS1,U1,student,active\n"}
    fields = {
        "batch_mode": "1",
        "batch_mode_term_id": "sis_term_id:T1",
        "batch_mode_enrollment_drop_status": "completed",
    }
    body, _ = run(api, one, **fields)
    assert body["data"]["counts"]["batch_enrollments_deleted"] == 1
    assert "U2|default:C2|student|" in sandbox.sis_objects("1")["enrollments"]
    again, _ = run(api, one, **fields)  # already completed: nothing left to change
    assert again["data"]["counts"]["batch_enrollments_deleted"] == 0


def test_failed_import_is_not_cleaned_up(sandbox: CanvasSandbox, api: str) -> None:
    setup_account(api)
    members = {"courses.csv": b"course_id,short_name,long_name,status,term_id\n", "x.csv": b"\xff"}
    body, seen = run(api, members, batch_mode="1", batch_mode_term_id="sis_term_id:T1")
    assert body["workflow_state"] == "failed_with_messages"
    assert "cleanup_batch" not in seen
    assert "batch_courses_deleted" not in body["data"]["counts"]
    assert sandbox.sis_objects("1")["courses"] == ["C1", "C2", "C3"]
