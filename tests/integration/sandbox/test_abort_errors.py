"""Abort, abort_all_pending, the errors API and the error file, over real HTTP (§1.5, §1.6)."""

from __future__ import annotations

from typing import Any

import requests

from gateway.sandbox import CanvasSandbox
from tests.integration.sandbox.calls import (
    AUTH,
    NOT_FOUND,
    OTHER_AUTH,
    TERMINAL,
    USERS,
    make_zip,
    post_file,
    wait_until,
)

ENROLLMENTS = b"course_id,user_id,role,status\nC1,U1,student,active\n,U2,student,active\n"




def state(api: str, import_id: int) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(f"{api}/{import_id}", headers=AUTH).json()
    return body


# --- abort (§1.5) -----------------------------------------------------------------------


def test_abort_a_queued_import(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.processing_seconds = 30.0
    running = post_file(api, "a.csv", USERS)
    queued = post_file(api, "b.csv", USERS)
    wait_until(api, running["id"], {"importing"})
    response = requests.put(f"{api}/{queued['id']}/abort", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["workflow_state"], body["progress"]) == (queued["id"], "aborted", 0)
    assert state(api, queued["id"])["workflow_state"] == "aborted"


def test_abort_a_running_import_stops_it_and_the_queue_moves_on(
    sandbox: CanvasSandbox, api: str
) -> None:
    sandbox.processing_seconds = 30.0
    running = post_file(api, "a.csv", USERS)
    queued = post_file(api, "b.csv", USERS)
    wait_until(api, running["id"], {"importing"})
    aborted = requests.put(f"{api}/{running['id']}/abort.json", headers=AUTH).json()
    assert aborted["workflow_state"] == "aborted"
    # The processor notices at once and takes the next import.
    assert wait_until(api, queued["id"], {"importing"}, 2.0)["workflow_state"] == "importing"
    sandbox.processing_seconds = 0.1
    requests.put(f"{api}/{queued['id']}/abort", headers=AUTH)
    final = state(api, running["id"])
    assert (final["workflow_state"], final["ended_at"], final["progress"]) == ("aborted", None, 0)
    assert "counts" not in final["data"]  # never processed: no outcome, no error file
    assert "errors_attachment" not in final


def test_finished_import_cannot_be_aborted(api: str) -> None:
    done = wait_until(api, post_file(api, "u.csv", USERS)["id"], TERMINAL)
    response = requests.put(f"{api}/{done['id']}/abort", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert state(api, done["id"])["workflow_state"] == "imported"


def test_abort_is_scoped_to_the_account_and_authenticated(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.processing_seconds = 30.0
    created = post_file(api, "u.csv", USERS)
    other = f"{sandbox.base_url}/api/v1/accounts/2/sis_imports/{created['id']}/abort"
    assert requests.put(other, headers=OTHER_AUTH).status_code == 404
    assert requests.put(f"{api}/{created['id']}/abort").status_code == 401
    assert requests.put(f"{api}/999/abort", headers=AUTH).status_code == 404
    assert requests.post(f"{api}/{created['id']}/abort", headers=AUTH).status_code == 404


def test_abort_all_pending_aborts_created_and_initializing_only(
    sandbox: CanvasSandbox, api: str
) -> None:
    sandbox.processing_seconds = 30.0
    running = post_file(api, "a.csv", USERS)
    wait_until(api, running["id"], {"importing"})
    queued = [post_file(api, f"q{i}.csv", USERS)["id"] for i in range(2)]
    stuck = requests.post(
        api,
        headers=AUTH,
        files={"attachment": ("u.csv", USERS)},
        data={"multi_term_batch_mode": "1"},
    )
    assert stuck.status_code == 400  # leaves an `initializing` import behind
    response = requests.put(f"{api}/abort_all_pending", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"aborted": True}
    by_id = {i["id"]: i for i in sandbox.imports("1")}
    assert by_id[running["id"]]["workflow_state"] == "importing"
    pending = [i for i in by_id.values() if i["id"] != running["id"]]
    assert len(pending) == 3
    assert all((i["workflow_state"], i["progress"]) == ("aborted", 100) for i in pending)
    assert set(queued) <= {i["id"] for i in pending}
    assert requests.put(f"{api}/abort_all_pending", headers=AUTH).json() == {"aborted": True}


# --- errors API and errors_attachment (§1.6) ----------------------------------------------


def test_clean_import_has_no_errors(api: str) -> None:
    done = wait_until(api, post_file(api, "u.csv", USERS)["id"], TERMINAL)
    assert "errors_attachment" not in done
    response = requests.get(f"{api}/{done['id']}/errors", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"sis_import_errors": []}


def test_import_errors_carry_canvas_row_numbers(api: str) -> None:
    # Row numbers count parsed rows (header = 1): the blank line is not counted and the
    # quoted newline does not start a row, so the bad row is row 3 on physical line 5.
    payload = (
        b"user_id,login_id,full_name,status\n\n"
        b'u1,l1,"Two\nLines",active\n,l2,Nobody,active\nu3,l3,Three,weird\n'
    )
    done = wait_until(api, post_file(api, "users.csv", payload)["id"], TERMINAL)
    response = requests.get(f"{api}/{done['id']}/errors", headers=AUTH)
    assert response.json() == {
        "sis_import_errors": [
            {
                "sis_import_id": done["id"],
                "file": "users.csv",
                "message": "Improper status for user u3",
                "row_info": "u3,l3,Three,weird\n",
                "row": 4,
            },
            {
                "sis_import_id": done["id"],
                "file": "users.csv",
                "message": "No user_id given for a user",
                "row_info": ",l2,Nobody,active\n",
                "row": 3,
            },
        ]
    }


def test_failure_filter_and_account_wide_errors_newest_first(
    sandbox: CanvasSandbox, api: str
) -> None:
    first = wait_until(api, post_file(api, "enrollments.csv", ENROLLMENTS)["id"], TERMINAL)
    zipped = make_zip({"users.csv": USERS, "bad.csv": b"\xff\xfe", "notes.txt": b"x"})
    second = wait_until(api, post_file(api, "batch.zip", zipped)["id"], TERMINAL)
    assert second["workflow_state"] == "failed_with_messages"
    url = f"{sandbox.base_url}/api/v1/accounts/1/sis_import_errors"
    everything = requests.get(url, headers=AUTH).json()["sis_import_errors"]
    # Newest first; Canvas goes through the zip's files in path order (bad.csv, notes.txt).
    assert [(e["sis_import_id"], e["message"]) for e in everything] == [
        (second["id"], "Skipping unknown file type"),
        (second["id"], "Invalid UTF-8"),
        (first["id"], "No course_id or section_id given for an enrollment"),
    ]
    assert everything[1]["row"] is None  # file-level failures have no row
    failures = requests.get(url, headers=AUTH, params={"failure": "true"}).json()
    assert [e["message"] for e in failures["sis_import_errors"]] == ["Invalid UTF-8"]
    only_first = requests.get(
        f"{api}/{first['id']}/errors.json", headers=AUTH, params={"failure": "1"}
    )
    assert only_first.json() == {"sis_import_errors": []}


def test_errors_pagination_link_header(sandbox: CanvasSandbox, api: str) -> None:
    payload = b"user_id,login_id,status\n" + b"".join(b",l%d,active\n" % i for i in range(5))
    done = wait_until(api, post_file(api, "users.csv", payload)["id"], TERMINAL)
    url = f"{api}/{done['id']}/errors"
    first = requests.get(url, headers=AUTH, params={"per_page": 2})
    assert [e["row"] for e in first.json()["sis_import_errors"]] == [6, 5]
    assert first.links["next"]["url"] == f"{url}?page=2&per_page=2"
    assert first.links["last"]["url"] == f"{url}?page=3&per_page=2"
    assert "prev" not in first.links
    last = requests.get(first.links["last"]["url"], headers=AUTH)
    assert [e["row"] for e in last.json()["sis_import_errors"]] == [2]
    assert "next" not in last.links
    assert requests.get(f"{api}/999/errors", headers=AUTH).status_code == 404
    other = f"{sandbox.base_url}/api/v1/accounts/2/sis_imports/{done['id']}/errors"
    assert requests.get(other, headers=OTHER_AUTH).status_code == 404
    assert requests.get(url).status_code == 401


def test_errors_attachment_downloads_the_error_csv(sandbox: CanvasSandbox, api: str) -> None:
    done = wait_until(api, post_file(api, "enrollments.csv", ENROLLMENTS)["id"], TERMINAL)
    attachment = done["errors_attachment"]
    assert attachment["display_name"] == f"sis_errors_attachment_{done['id']}.csv"
    # The stored name is the temp file's (`<id>_processing_warnings_and_errors<time>...`).
    assert attachment["filename"].startswith(f"{done['id']}_processing_warnings_and_errors")
    assert attachment["content-type"] == "csv"
    url = attachment["url"]
    assert url.startswith(f"{sandbox.base_url}/files/{attachment['id']}/download?download_frd=1&")
    # The verifier is a one-hour token (sis_import_error_attachment_token), not the uuid.
    assert f"verifier={attachment['uuid']}" not in url
    expected = (
        "sis_import_id,file,message,row\n"
        f"{done['id']},enrollments.csv,No course_id or section_id given for an enrollment,3\n"
    ).encode()
    by_verifier = requests.get(url)  # the verifier alone is enough, as on Canvas
    assert by_verifier.status_code == 200
    assert by_verifier.content == expected
    assert by_verifier.headers["Content-Type"] == "text/csv"
    assert attachment["size"] == len(expected)
    plain = f"{sandbox.base_url}/files/{attachment['id']}/download"
    assert requests.get(plain, headers=AUTH).content == expected
    assert requests.get(plain).status_code == 401
    by_uuid = requests.get(plain, params={"verifier": attachment["uuid"]})
    assert by_uuid.content == expected
    wrong = requests.get(plain, params={"verifier": "nope"}, headers=OTHER_AUTH)
    assert wrong.status_code == 401
    forged = url.rsplit(".", 1)[0] + ".AAAA"
    assert requests.get(forged).status_code == 401
    assert requests.get(f"{sandbox.base_url}/files/999/download", headers=AUTH).status_code == 404
    again = sandbox.imports("1")[0]["errors_attachment"]
    assert requests.get(again["url"]).content == expected


def test_error_file_lists_warnings_and_failures_together(api: str) -> None:
    zipped = make_zip(
        {
            "accounts.csv": b"account_id,parent_account_id,name,status\nA1,,,active\n",
            "users.csv": b"user_id,login_id,status\n,l1,active\n",
            "x.csv": b"a,b\n",
        }
    )
    done = wait_until(api, post_file(api, "batch.zip", zipped)["id"], TERMINAL)
    content = requests.get(done["errors_attachment"]["url"]).text
    # Creation order; a message with a comma is quoted as Ruby's CSV does.
    assert content.splitlines() == [
        "sis_import_id,file,message,row",
        f"{done['id']},x.csv,Couldn't find Canvas CSV import headers,",
        f'{done["id"]},accounts.csv,"No name given for account A1, skipping",2',
        f"{done['id']},users.csv,No user_id given for a user,2",
    ]
