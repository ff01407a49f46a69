"""The Canvas sandbox over real HTTP on loopback, driven with `requests` like the forwarder."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from gateway.sandbox import CanvasSandbox
from tests.integration.sandbox.calls import (
    AUTH,
    NOT_FOUND,
    OTHER_AUTH,
    OTHER_TOKEN,
    TERMINAL,
    TOKEN,
    USERS,
    make_zip,
    post_file,
    wait_until,
)

# --- authentication (§3.1) -------------------------------------------------------------


def test_no_credentials_is_401_unauthenticated(api: str) -> None:
    response = requests.get(api)
    assert response.status_code == 401
    assert response.json() == {
        "status": "unauthenticated",
        "errors": [{"message": "user authorization required"}],
    }
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'


def test_wrong_token_is_401_invalid_access_token(api: str) -> None:
    response = requests.get(api, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Invalid access token."}]}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'


def test_token_of_another_account_is_401_unauthorized(sandbox: CanvasSandbox) -> None:
    url = f"{sandbox.base_url}/api/v1/accounts/2/sis_imports"
    response = requests.post(url, headers=AUTH, files={"attachment": ("u.csv", USERS)})
    assert response.status_code == 401
    assert response.json() == {
        "status": "unauthorized",
        "errors": [{"message": "user not authorized to perform that action"}],
    }
    assert "WWW-Authenticate" not in response.headers
    assert sandbox.imports("2") == []


def test_unknown_account_is_404(sandbox: CanvasSandbox) -> None:
    response = requests.get(f"{sandbox.base_url}/api/v1/accounts/99/sis_imports", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_access_token_query_parameter_and_self_account(sandbox: CanvasSandbox) -> None:
    url = f"{sandbox.base_url}/api/v1/accounts/self/sis_imports"
    response = requests.get(url, params={"access_token": OTHER_TOKEN})
    assert response.status_code == 200
    assert response.json() == {"sis_imports": []}
    assert response.headers["X-Rate-Limit-Remaining"] == "600.0"


def test_unknown_routes_are_404(sandbox: CanvasSandbox, api: str) -> None:
    assert requests.get(f"{sandbox.base_url}/api/v1/courses", headers=AUTH).status_code == 404
    assert requests.delete(api, headers=AUTH).status_code == 404
    assert requests.get(f"{api}/abc", headers=AUTH).status_code == 404


# --- POST (§1.2, §1.3) ------------------------------------------------------------------


def test_multipart_post_returns_created_import_and_keeps_exact_bytes(
    sandbox: CanvasSandbox, api: str
) -> None:
    payload = make_zip({"users.csv": USERS}) + b"\r\n--tail\r\n"  # trailing junk zips accept
    body = post_file(
        api, "nightly.zip", payload, override_sis_stickiness="1", add_sis_stickiness="1"
    )
    assert body["id"] == 1
    assert body["workflow_state"] == "created"
    assert body["progress"] == 0
    assert body["data"] == {"import_type": "instructure_csv"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["created_at"])
    assert body["override_sis_stickiness"] is True
    assert body["add_sis_stickiness"] is True
    assert body["clear_sis_stickiness"] is None
    # The creator is shown; the uploaded file (and its name) never is.
    assert body["user"] == sandbox.user(TOKEN)
    assert "csv_attachments" not in body
    assert "nightly.zip" not in json.dumps(body)
    assert sandbox.payloads("1") == [payload]
    done = wait_until(api, body["id"], TERMINAL)
    [attachment] = done["csv_attachments"]
    assert attachment["display_name"] == attachment["filename"] == "users.csv"
    assert attachment["content-type"] == "text/csv"
    assert requests.get(attachment["url"]).content == USERS
    assert "nightly.zip" not in json.dumps(done)


def test_options_from_query_string_and_form_fields(api: str) -> None:
    terms = post_file(api, "terms.csv", b"term_id,name,status\n2026FA,Fall,active\n")
    assert wait_until(api, terms["id"], TERMINAL)["workflow_state"] == "imported"
    url = f"{api}.json?batch_mode=1&batch_mode_term_id=sis_term_id:2026FA&change_threshold=10"
    response = requests.post(
        url, headers=AUTH, files={"attachment": ("u.csv", USERS)}, data={"skip_deletes": "true"}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["batch_mode"] is True
    assert isinstance(body["batch_mode_term_id"], int)
    assert body["change_threshold"] == 10
    assert body["skip_deletes"] is True
    diffing = post_file(api, "u.csv", USERS, diffing_data_set_identifier="nightly")
    assert diffing["diffing_data_set_identifier"] == "nightly"
    assert diffing["diffing_remaster"] is False


def test_multipart_without_attachment_is_400(sandbox: CanvasSandbox, api: str) -> None:
    response = requests.post(api, headers=AUTH, files={"other": ("u.csv", USERS)})
    assert response.status_code == 400
    assert response.json() == {"error": True, "error_message": "Missing attachment"}
    assert sandbox.imports("1") == []


def test_raw_csv_body_with_utf8_charset(sandbox: CanvasSandbox, api: str) -> None:
    headers = {**AUTH, "Content-Type": "text/csv; charset=utf-8"}
    body = requests.post(api, headers=headers, data=USERS).json()
    assert "csv_attachments" not in body
    assert sandbox.payloads("1") == [USERS]
    # A .csv upload is its own csv_attachment, shown once the (inline) import ended.
    attachment = wait_until(api, body["id"], TERMINAL)["csv_attachments"][0]
    assert (attachment["filename"], attachment["content-type"]) == ("sis_import.csv", "text/csv")


def test_raw_body_with_another_charset_is_400_and_creates_nothing(
    sandbox: CanvasSandbox, api: str
) -> None:
    headers = {**AUTH, "Content-Type": "text/csv; charset=ISO-8859-1"}
    response = requests.post(api, headers=headers, data=USERS)
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid content type, UTF-8 required"}
    assert sandbox.imports("1") == []


def test_raw_body_with_extension_parameter(api: str) -> None:
    headers = {**AUTH, "Content-Type": "application/octet-stream; charset=latin1"}
    response = requests.post(api, params={"extension": "csv"}, headers=headers, data=USERS)
    done = wait_until(api, response.json()["id"], TERMINAL)
    assert done["csv_attachments"][0]["filename"] == "sis_import.csv"


def test_raw_body_without_content_type_is_a_zip_and_fails_when_it_is_not(api: str) -> None:
    created = requests.post(api, headers=AUTH, data=USERS).json()
    assert "csv_attachments" not in created
    done = wait_until(api, created["id"], TERMINAL)
    assert done["workflow_state"] == "failed_with_messages"
    assert done["progress"] == 0
    [[file, message]] = done["processing_errors"]
    assert file is None
    assert re.fullmatch(
        r"Error while importing CSV\. Please contact support\. \(Error report \d+\)", message
    )
    # fail_with_error! saved the batch as prepare left it: no importer keys, no files.
    data = done["data"]
    assert list(data) == ["import_type", "downloadable_attachment_ids", "counts", "statistics"]
    assert data["downloadable_attachment_ids"] == []
    assert data["counts"] == {"error_count": 1, "warning_count": 0}
    assert "csv_attachments" not in done


def test_chunked_upload_body_is_read_whole(sandbox: CanvasSandbox, api: str) -> None:
    chunks = [b"user_id,login_id,status\n", b"u1,l1,active\n"]
    headers = {**AUTH, "Content-Type": "text/csv"}
    response = requests.post(api, headers=headers, data=iter(chunks))
    assert response.status_code == 200
    assert sandbox.payloads("1") == [b"".join(chunks)]


def test_batch_mode_without_term_is_400_and_creates_nothing(
    sandbox: CanvasSandbox, api: str
) -> None:
    response = requests.post(
        api, headers=AUTH, files={"attachment": ("u.csv", USERS)}, data={"batch_mode": "true"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": "Batch mode specified, but the given batch_mode_term_id cannot be found."
    }
    assert sandbox.imports("1") == []


def test_multi_term_without_threshold_leaves_an_initializing_import(
    sandbox: CanvasSandbox, api: str
) -> None:
    response = requests.post(
        api,
        headers=AUTH,
        files={"attachment": ("u.csv", USERS)},
        data={"multi_term_batch_mode": "1"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": "change_threshold is required to use multi term_batch mode."
    }
    time.sleep(0.3)  # longer than processing: it must never be picked up
    [stuck] = sandbox.imports("1")
    assert stuck["workflow_state"] == "initializing"


def test_unknown_import_type_is_a_server_error(sandbox: CanvasSandbox, api: str) -> None:
    response = requests.post(
        api, headers=AUTH, params={"import_type": "other"}, files={"attachment": ("u.csv", USERS)}
    )
    assert response.status_code == 500
    assert response.json()["errors"] == [{"message": "An error occurred."}]
    assert sandbox.imports("1") == []


# --- GET one, list, importing (§1.1, §1.4) ----------------------------------------------


def test_get_one_is_scoped_to_its_account(sandbox: CanvasSandbox, api: str) -> None:
    created = post_file(api, "u.csv", USERS)
    assert requests.get(f"{api}/{created['id']}", headers=AUTH).json()["id"] == created["id"]
    other = f"{sandbox.base_url}/api/v1/accounts/2/sis_imports/{created['id']}"
    response = requests.get(other, headers=OTHER_AUTH)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert requests.get(f"{api}/999", headers=AUTH).status_code == 404


def test_list_pagination_filters_and_link_header(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.processing_seconds = 30.0  # keep states stable while listing
    ids = [post_file(api, "u.csv", USERS)["id"] for _ in range(3)]
    with requests.Session() as session:
        session.headers.update(AUTH)
        first = session.get(api, params={"per_page": 2})
        assert [i["id"] for i in first.json()["sis_imports"]] == [ids[2], ids[1]]
        assert first.links["next"]["url"] == f"{api}?page=2&per_page=2"
        assert first.links["current"]["url"] == f"{api}?page=1&per_page=2"
        assert "first" in first.links
        assert "prev" not in first.links
        assert "last" not in first.links
        second = session.get(first.links["next"]["url"])
        assert [i["id"] for i in second.json()["sis_imports"]] == [ids[0]]
        assert "next" not in second.links
        assert "prev" in second.links
        created = session.get(api, params={"workflow_state[]": ["created", "bogus"]})
        assert [i["id"] for i in created.json()["sis_imports"]] == [ids[2], ids[1]]
        assert session.get(api, params={"created_since": "2999-01-01T00:00:00Z"}).json() == {
            "sis_imports": []
        }
        assert (
            len(
                session.get(api, params={"created_before": "2999-01-01T00:00:00Z"}).json()[
                    "sis_imports"
                ]
            )
            == 3
        )
        assert (
            len(session.get(api, params={"created_since": "not a time"}).json()["sis_imports"]) == 3
        )


def test_importing_route_and_fifo_one_at_a_time(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.processing_seconds = 0.5
    first = post_file(api, "u1.csv", USERS)
    second = post_file(api, "u2.csv", USERS)
    running = wait_until(api, first["id"], {"importing"})
    assert running["workflow_state"] == "importing"
    assert running["started_at"] is not None
    assert requests.get(f"{api}/{second['id']}", headers=AUTH).json()["workflow_state"] == "created"
    importing = requests.get(f"{api}/importing", headers=AUTH).json()["sis_imports"]
    assert [i["id"] for i in importing] == [first["id"]]
    done_first = wait_until(api, first["id"], TERMINAL)
    done_second = wait_until(api, second["id"], TERMINAL)
    assert done_first["workflow_state"] == done_second["workflow_state"] == "imported"
    assert done_second["started_at"] >= done_first["ended_at"]


def test_accounts_process_independently(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.processing_seconds = 0.5
    post_file(api, "u.csv", USERS)
    other = f"{sandbox.base_url}/api/v1/accounts/2/sis_imports"
    response = requests.post(
        other,
        headers=OTHER_AUTH,
        files={"attachment": ("u.csv", USERS)},
    )
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        states = {sandbox.imports(a)[0]["workflow_state"] for a in ("1", "2")}
        if states == {"importing"}:
            break
        time.sleep(0.02)
    assert states == {"importing"}, response.text


# --- processing outcomes (§2.3, §4) -----------------------------------------------------


def test_clean_users_csv_is_imported(api: str) -> None:
    done = wait_until(api, post_file(api, "users.csv", USERS)["id"], TERMINAL)
    assert done["workflow_state"] == "imported"
    assert done["progress"] == 100
    assert done["ended_at"] is not None
    assert done["data"]["supplied_batches"] == ["user"]
    assert done["data"]["counts"]["users"] == 2
    assert done["data"]["counts"]["error_count"] == 0
    assert "processing_warnings" not in done


def test_row_warnings_give_imported_with_messages(api: str) -> None:
    payload = (
        b"course_id,user_id,role,status\n"
        b"C1,U1,student,active\n,U2,student,active\nC1,U3,student,semi\n"
    )
    done = wait_until(api, post_file(api, "enrollments.csv", payload)["id"], TERMINAL)
    assert done["workflow_state"] == "imported_with_messages"
    assert done["processing_warnings"] == [
        ["enrollments.csv", "No course_id or section_id given for an enrollment"],
        ["enrollments.csv", 'Improper status "semi" for an enrollment'],
    ]
    assert done["data"]["counts"]["enrollments"] == 1
    assert done["data"]["counts"]["warning_count"] == 2


def test_unrecognised_header_fails(api: str) -> None:
    done = wait_until(api, post_file(api, "people.csv", b"person,mail\nx,y\n")["id"], TERMINAL)
    assert done["workflow_state"] == "failed_with_messages"
    assert done["processing_errors"] == [["people.csv", "Couldn't find Canvas CSV import headers"]]


def test_invalid_utf8_fails(api: str) -> None:
    payload = b"user_id,login_id,status\nu1,caf\xe9,active\n"
    done = wait_until(api, post_file(api, "users.csv", payload)["id"], TERMINAL)
    assert done["workflow_state"] == "failed_with_messages"
    assert done["processing_errors"] == [["users.csv", "Invalid UTF-8"]]


def test_zip_with_several_members(api: str) -> None:
    payload = make_zip(
        {
            "terms.csv": b"term_id,name,status\nT1,Fall,active\n",
            "courses.csv": b"course_id,short_name,long_name,status,term_id\nC1,c,C,active,T1\n",
            "users.csv": USERS,
            "notes/readme.txt": b"ignore me",
            "__MACOSX/._users.csv": b"\x00",
        }
    )
    done = wait_until(api, post_file(api, "batch.zip", payload)["id"], TERMINAL)
    assert done["workflow_state"] == "imported_with_messages"
    assert done["data"]["supplied_batches"] == ["term", "course", "user"]
    counts = done["data"]["counts"]
    assert (counts["terms"], counts["courses"], counts["users"]) == (1, 1, 2)
    assert done["processing_warnings"] == [["notes/readme.txt", "Skipping unknown file type"]]


# --- control endpoints ------------------------------------------------------------------


def test_settings_endpoint_changes_processing_time(sandbox: CanvasSandbox) -> None:
    url = f"{sandbox.base_url}/sandbox/settings"
    response = requests.put(url, json={"processing_seconds": 5.0})
    assert response.status_code == 200
    assert response.json() == {"processing_seconds": 5.0, "errors_file_delay_seconds": 0.0}
    assert sandbox.processing_seconds == 5.0
    delayed = requests.put(url, json={"errors_file_delay_seconds": 2})
    assert delayed.json() == {"processing_seconds": 5.0, "errors_file_delay_seconds": 2.0}
    assert sandbox.errors_file_delay_seconds == 2.0
    assert requests.get(url).json() == {"processing_seconds": 5.0, "errors_file_delay_seconds": 2.0}
    assert requests.put(url, json={"processing_seconds": -1}).status_code == 400
    assert requests.put(url, json={"errors_file_delay_seconds": True}).status_code == 400
    assert requests.put(url, data=b"not json").status_code == 400
    assert requests.put(url, json={"speed": 1}).status_code == 400


def test_imports_endpoint_lists_payload_digests(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.processing_seconds = 30.0  # the first stays `importing`, the second `created`
    post_file(api, "a.csv", USERS)
    post_file(api, "b.csv", USERS + b"u3,l3,active\r\n")
    response = requests.get(f"{sandbox.base_url}/sandbox/imports/1")
    assert response.status_code == 200
    imports = response.json()["imports"]
    assert [i["payload_size"] for i in imports] == [len(USERS), len(USERS) + 14]
    assert imports[0]["payload_sha256"] == hashlib.sha256(USERS).hexdigest()
    assert imports[1]["payload_size"] == len(USERS) + 14
    wait_until(api, imports[0]["id"], {"importing"})
    imports = requests.get(f"{sandbox.base_url}/sandbox/imports/1").json()["imports"]
    expected = [
        {**body, "payload_sha256": hashlib.sha256(data).hexdigest(), "payload_size": len(data)}
        for body, data in zip(sandbox.imports("1"), sandbox.payloads("1"), strict=True)
    ]
    assert imports == expected
    assert requests.get(f"{sandbox.base_url}/sandbox/imports/99").status_code == 404


# --- connection handling and lifecycle --------------------------------------------------


def test_keep_alive_survives_refused_uploads(api: str) -> None:
    with requests.Session() as session:
        refused = session.post(api, files={"attachment": ("u.csv", USERS * 100)})
        assert refused.status_code == 401
        accepted = session.post(api, headers=AUTH, files={"attachment": ("u.csv", USERS)})
        assert accepted.status_code == 200


def test_stop_is_idempotent_and_frees_the_port() -> None:
    sandbox = CanvasSandbox(accounts={"1": TOKEN}, processing_seconds=0.2)
    base = sandbox.start()
    sandbox.stop()
    sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/sandbox/settings", timeout=2)
    with pytest.raises(RuntimeError):
        sandbox.start()


def test_cli_runs_until_sigterm() -> None:
    env = {**os.environ, "GATEWAY_SANDBOX_TOKEN": "env-token"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.sandbox", "--port", "0", "--account", "5"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(
            r"Canvas sandbox listening on (http://127\.0\.0\.1:\d+) \(account 5\)\n", line
        )
        assert match, line
        url = f"{match[1]}/api/v1/accounts/5/sis_imports"
        assert requests.get(url, headers={"Authorization": "Bearer env-token"}).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_start_delay_keeps_new_imports_created_for_that_long(
        sandbox: CanvasSandbox, api: str) -> None:
    # Canvas's sis_batch_process_start_delay: the account's job runs that long after queueing.
    sandbox.start_delay_seconds = 0.8
    posted = post_file(api, "users.csv", USERS)
    time.sleep(0.4)
    assert wait_until(api, posted["id"], set(), timeout=0)["workflow_state"] == "created"
    done = wait_until(api, posted["id"], TERMINAL)
    assert done["workflow_state"] == "imported"
