"""The sandbox's account reports API, driven by canvasapi and plain requests over real HTTP.

Checks what canvas-lms does (app/controllers/account_reports_controller.rb,
lib/api/v1/account_report.rb, app/models/account_report.rb): a run is started, listed and
shown with its status; a complete run's ``file_url`` redirects to the file store, another
host:port; the CSV headers are the account report generators' (gems/plugins/account_reports).
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from canvasapi import Canvas  # type: ignore[import-untyped]
from canvasapi.exceptions import ResourceDoesNotExist  # type: ignore[import-untyped]

from gateway.sandbox import CanvasSandbox
from gateway.sandbox.faults import ErrorFault, Faults, ReportFault
from gateway.sandbox.report_files import GRADE_EXPORT, OUTCOME_RESULTS, PROVISIONING, SIS_FORMAT
from tests.integration.sandbox.calls import AUTH, OTHER_TOKEN, TERMINAL, TOKEN, make_zip

pytestmark = pytest.mark.filterwarnings("ignore:Canvas may respond unexpectedly:UserWarning")

TERMS = b"term_id,name,status\nT1,Fall,active\n"
COURSES = b"course_id,short_name,long_name,term_id,status\nC1,c1,Course 1,T1,active\n"
SECTIONS = b"section_id,course_id,name,status\nS1,C1,Section 1,active\n"
USERS = b"user_id,login_id,status\nu1,l1,active\nu2,l2,active\n"
ENROLLMENTS = (b"course_id,user_id,role,section_id,status\nC1,u1,student,S1,active\n"
               b"C1,u2,teacher,S1,active\n")


@pytest.fixture
def sandbox() -> Iterator[CanvasSandbox]:
    with CanvasSandbox(accounts={"1": TOKEN, "2": OTHER_TOKEN}, processing_seconds=0.05,
                       errors_file_delay_seconds=0.0, report_seconds=0.2) as running:
        yield running


@pytest.fixture
def imported(sandbox: CanvasSandbox) -> CanvasSandbox:
    """Account 1 holding one term, course, section and two enrollments from an import."""
    return import_into(sandbox, {"terms.csv": TERMS, "courses.csv": COURSES,
                                 "sections.csv": SECTIONS, "users.csv": USERS,
                                 "enrollments.csv": ENROLLMENTS})


def import_into(sandbox: CanvasSandbox, files: dict[str, bytes]) -> CanvasSandbox:
    """Import ``files`` into account 1 and wait for the import's end."""
    api = f"{sandbox.base_url}/api/v1/accounts/1/sis_imports"
    posted = requests.post(api, headers=AUTH, files={"attachment": ("a.zip", make_zip(files))},
                           data={"import_type": "instructure_csv"}).json()
    deadline = time.monotonic() + 10
    while requests.get(f"{api}/{posted['id']}", headers=AUTH).json()["workflow_state"] \
            not in TERMINAL:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return sandbox


def finished(account: Any, report: str, report_id: int) -> Any:
    deadline = time.monotonic() + 10
    while True:
        run = account.get_report(report, report_id)
        if run.status in ("complete", "error", "aborted") or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def test_a_run_is_started_listed_shown_and_its_file_comes_from_the_file_store(
        imported: CanvasSandbox) -> None:
    account = Canvas(imported.base_url, TOKEN).get_account(1)
    started = account.create_report("grade_export_csv",
                                    parameters={"enrollment_term_id": "sis_term_id:T1"})
    assert started.status == "created"
    assert started.parameters == {"enrollment_term_id": "sis_term_id:T1"}
    run = finished(account, "grade_export_csv", started.id)
    assert run.status == "complete"
    assert run.progress == 100
    assert [r.id for r in account.get_index_of_reports("grade_export_csv")] == [started.id]
    first = requests.get(run.file_url, headers=AUTH, allow_redirects=False)
    assert first.status_code == 302
    location = first.headers["Location"]
    assert location.startswith(imported.file_store.base_url)
    assert imported.file_store.base_url != imported.base_url
    data = requests.get(location).content
    table = rows(data)
    assert table[0] == GRADE_EXPORT
    assert [(row[2], row[5]) for row in table[1:]] == [("u1", "C1")]  # students only
    again = requests.get(requests.get(run.file_url, headers=AUTH, allow_redirects=False)
                         .headers["Location"]).content
    assert again == data  # grades are seeded: the same every time


def test_provisioning_of_several_csvs_is_a_zip_with_canvas_headers(
        imported: CanvasSandbox) -> None:
    account = Canvas(imported.base_url, TOKEN).get_account(1)
    started = account.create_report("provisioning_csv", parameters={
        "users": True, "enrollments": True})
    run = finished(account, "provisioning_csv", started.id)
    assert run.attachment["filename"].endswith(".zip")
    data = requests.get(run.attachment["url"]).content  # the verifier needs no token
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["enrollments.csv", "users.csv"]
        users = rows(archive.read("users.csv"))
        enrollments = rows(archive.read("enrollments.csv"))
    assert users[0] == PROVISIONING["users"]
    assert [row[1] for row in users[1:]] == ["u1", "u2"]
    assert enrollments[0] == PROVISIONING["enrollments"]
    sis = account.create_report("sis_export_csv", parameters={"courses": True})
    course_file = requests.get(finished(account, "sis_export_csv", sis.id).attachment["url"])
    assert rows(course_file.content) == [SIS_FORMAT["courses"],
                                         ["C1", "", "", "", "T1", "active", "", ""]]


def test_error_state_unknown_reports_and_other_accounts(imported: CanvasSandbox) -> None:
    imported.faults = Faults(report_outcome=ReportFault(count=1))
    account = Canvas(imported.base_url, TOKEN).get_account(1)
    failed = finished(account, "last_user_access_csv",
                      account.create_report("last_user_access_csv").id)
    assert failed.status == "error"
    assert failed.file_url is None
    assert imported.faults_fired() == {"report_outcome": 1}
    with pytest.raises(ResourceDoesNotExist):
        account.create_report("no_such_report_csv")
    other = Canvas(imported.base_url, OTHER_TOKEN).get_account(2)
    with pytest.raises(ResourceDoesNotExist):
        other.get_report("last_user_access_csv", failed.id)
    listed = {item["report"] for item in requests.get(
        f"{imported.base_url}/api/v1/accounts/1/reports", headers=AUTH).json()}
    assert {"provisioning_csv", "sis_export_csv", "grade_export_csv"} <= listed


def test_file_store_faults_and_no_file_without_verifier_or_token(
        imported: CanvasSandbox) -> None:
    account = Canvas(imported.base_url, TOKEN).get_account(1)
    run = finished(account, "last_user_access_csv",
                   account.create_report("last_user_access_csv").id)
    assert requests.get(run.file_url, allow_redirects=False).status_code == 401
    imported.faults = Faults(errors=ErrorFault(count=1, path="^/store/", statuses=(503,)))
    location = requests.get(run.file_url, headers=AUTH, allow_redirects=False)
    assert requests.get(location.headers["Location"]).status_code == 503
    assert requests.get(location.headers["Location"]).status_code == 200


def test_outcome_results_have_canvas_headers_and_no_rows(imported: CanvasSandbox) -> None:
    account = Canvas(imported.base_url, TOKEN).get_account(1)
    run = finished(account, "outcome_results_csv",
                   account.create_report("outcome_results_csv").id)
    data = requests.get(run.attachment["url"]).content
    assert rows(data) == [OUTCOME_RESULTS]


def test_the_index_is_paginated_newest_first_as_canvas_pages_it(sandbox: CanvasSandbox) -> None:
    # Api.paginate(type_scope.active.order('id DESC')): 10 a page unless per_page says
    # otherwise, with a Link header that canvasapi follows.
    account = Canvas(sandbox.base_url, TOKEN).get_account(1)
    started = [account.create_report("last_user_access_csv").id for _ in range(12)]
    api = f"{sandbox.base_url}/api/v1/accounts/1/reports/last_user_access_csv"
    first = requests.get(api, headers=AUTH)
    assert [r["id"] for r in first.json()] == started[::-1][:10]
    assert 'rel="next"' in first.headers["Link"]
    assert [r["id"] for r in requests.get(first.links["next"]["url"], headers=AUTH).json()] \
        == started[::-1][10:]
    assert len(requests.get(api, headers=AUTH, params={"per_page": 100}).json()) == 12
    assert [r.id for r in account.get_index_of_reports("last_user_access_csv")] \
        == started[::-1]


def test_enrollment_term_id_scopes_courses_sections_and_enrollments(
        imported: CanvasSandbox) -> None:
    # ReportHelper#add_term_scope: with parameters[enrollment_term_id] (a Canvas id or
    # sis_term_id:<id>) only that term's courses, sections and enrollments are reported; a
    # term the account does not have ends the report in error (ReportHelper#term).
    import_into(imported, {
        "terms.csv": b"term_id,name,status\nT2,Spring,active\n",
        "courses.csv": b"course_id,short_name,long_name,term_id,status\nC2,c2,C 2,T2,active\n",
        "sections.csv": b"section_id,course_id,name,status\nS2,C2,Section 2,active\n",
        "enrollments.csv": b"course_id,user_id,role,section_id,status\n"
                           b"C2,u1,student,S2,active\n"})
    account = Canvas(imported.base_url, TOKEN).get_account(1)

    def members(term: str) -> dict[str, list[str]]:
        started = account.create_report("sis_export_csv", parameters={
            "courses": True, "sections": True, "enrollments": True,
            "enrollment_term_id": term})
        run = finished(account, "sis_export_csv", started.id)
        data = requests.get(run.attachment["url"]).content
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {name: [row[0] for row in rows(archive.read(name))[1:]]
                    for name in sorted(archive.namelist())}

    assert members("sis_term_id:T2") == {"courses.csv": ["C2"], "enrollments.csv": ["C2"],
                                         "sections.csv": ["S2"]}
    assert members("sis_term_id:T1") == {"courses.csv": ["C1"],
                                         "enrollments.csv": ["C1", "C1"],
                                         "sections.csv": ["S1"]}
    unknown = account.create_report("grade_export_csv",
                                    parameters={"enrollment_term_id": "sis_term_id:T9"})
    assert finished(account, "grade_export_csv", unknown.id).status == "error"


def test_a_deleted_run_is_gone_from_the_index_and_show(imported: CanvasSandbox) -> None:
    # AccountReportsController#destroy: workflow_state 'deleted' (AccountReport#destroy),
    # answered with the run; index and show read `type_scope.active`, so it is gone there.
    account = Canvas(imported.base_url, TOKEN).get_account(1)
    kept = account.create_report("last_user_access_csv")
    gone = account.get_report("last_user_access_csv",
                               account.create_report("last_user_access_csv").id)
    assert gone.delete_report().status == "deleted"
    assert [r.id for r in account.get_index_of_reports("last_user_access_csv")] == [kept.id]
    with pytest.raises(ResourceDoesNotExist):
        account.get_report("last_user_access_csv", gone.id)
    api = f"{imported.base_url}/api/v1/accounts/1/reports/last_user_access_csv/{gone.id}"
    assert requests.delete(api, headers=AUTH).status_code == 404
