"""The sandbox driven by canvasapi, the Python Canvas client, as a real HTTP server.

Every step goes through canvasapi (and, where canvasapi has no method, through its own
Requester), and asserts what canvas-lms does: lib/api/v1/sis_import.rb for the JSON,
app/models/sis_batch.rb for the states, data and delayed error file,
lib/sis/csv/import_refactored.rb for the csv_attachments and their timing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from canvasapi import Canvas  # type: ignore[import-untyped]
from canvasapi.exceptions import (  # type: ignore[import-untyped]
    Forbidden,
    InvalidAccessToken,
    RateLimitExceeded,
    ResourceDoesNotExist,
    Unauthorized,
)

from gateway.sandbox import CanvasSandbox, Throttling
from tests.integration.sandbox.calls import OTHER_TOKEN, TERMINAL, TOKEN, make_zip

pytestmark = pytest.mark.filterwarnings("ignore:Canvas may respond unexpectedly:UserWarning")

SECOND_ADMIN = "token-second-admin"  # another admin of account 1
ERRORS_DELAY = 0.3
USERS = b"user_id,login_id,password,status\nu1,l1,secret,active\n"
COURSES = b"course_id,short_name,long_name,status\nC1,c1,Course 1,active\n"
UPLOAD_NAME = "nightly-upload-7f3e.zip"


@pytest.fixture
def sandbox() -> Iterator[CanvasSandbox]:
    with CanvasSandbox(
        accounts={"1": TOKEN, "2": OTHER_TOKEN},
        other_users={SECOND_ADMIN: "1"},
        processing_seconds=0.1,
        errors_file_delay_seconds=ERRORS_DELAY,
    ) as running:
        yield running


@pytest.fixture
def account(sandbox: CanvasSandbox) -> Any:
    return Canvas(sandbox.base_url, TOKEN).get_account(1)


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    """A zip with a users file carrying passwords, a nested courses file and a note."""
    path = tmp_path / UPLOAD_NAME
    members = {"users.csv": USERS, "sub/courses.csv": COURSES, "notes/readme.txt": b"hi"}
    path.write_bytes(make_zip(members))
    return path


def fields(item: Any) -> dict[str, Any]:
    """The JSON attributes canvasapi set on an object."""
    return {k: v for k, v in vars(item).items() if not k.startswith("_") and "_date" not in k}


def poll(
    account: Any, import_id: int, done: Callable[[Any], bool], timeout: float = 10.0
) -> tuple[Any, float]:
    """Poll until `done`; return the import and when the last poll that was not done was
    sent (monotonic), to reason about what the server could have done in between."""
    deadline = time.monotonic() + timeout
    last_not_done = time.monotonic()
    while True:
        sent = time.monotonic()
        item = account.get_sis_import(import_id)
        if done(item):
            return item, last_not_done
        last_not_done = sent
        assert sent < deadline, f"import {import_id} stuck in {item.workflow_state}"
        time.sleep(0.02)


def terminal(item: Any) -> bool:
    return item.workflow_state in TERMINAL


# --- who the token is ---------------------------------------------------------------------


def test_account_and_current_user(sandbox: CanvasSandbox) -> None:
    canvas = Canvas(sandbox.base_url, TOKEN)
    account = canvas.get_account(1)
    assert (account.id, account.workflow_state) == (1, "active")
    assert (account.parent_account_id, account.root_account_id) == (None, None)
    assert account.default_time_zone == "Etc/UTC"
    me = canvas.get_current_user()
    assert me.id == sandbox.user(TOKEN)["id"]  # type: ignore[index]
    assert (me.name, me.sortable_name, me.effective_locale) == (
        "SIS Integration",
        "Integration, SIS",
        "en",
    )
    assert me.permissions["can_update_name"] is True
    second = Canvas(sandbox.base_url, SECOND_ADMIN).get_current_user()
    assert second.id != me.id
    by_self = account._requester.request("GET", "accounts/self").json()
    assert by_self == fields(account)


def test_refusals_raise_what_canvasapi_raises_for_canvas(sandbox: CanvasSandbox) -> None:
    with pytest.raises(InvalidAccessToken):  # 401 with WWW-Authenticate
        Canvas(sandbox.base_url, "wrong").get_account(1)
    with pytest.raises(InvalidAccessToken):
        Canvas(sandbox.base_url, "wrong").get_current_user()
    other = Canvas(sandbox.base_url, OTHER_TOKEN)
    with pytest.raises(Unauthorized):  # logged in, but not on account 1: no WWW-Authenticate
        other.get_account(1)
    with pytest.raises(ResourceDoesNotExist):
        other.get_account(99)
    with pytest.raises(ResourceDoesNotExist):
        Canvas(sandbox.base_url, TOKEN).get_account(1).get_sis_import(424242)


# --- one import from POST to its error file ----------------------------------------------


def test_import_lifecycle_as_canvas_shows_it(
    sandbox: CanvasSandbox, account: Any, upload: Path
) -> None:
    created = account.create_sis_import(str(upload))
    body = fields(created)
    assert body["workflow_state"] == "created"
    assert (body["progress"], body["started_at"], body["ended_at"]) == (0, None, None)
    assert body["data"] == {"import_type": "instructure_csv"}
    assert body["user"] == sandbox.user(TOKEN)
    assert "csv_attachments" not in body
    assert "errors_attachment" not in body
    assert UPLOAD_NAME not in json.dumps(body)  # the upload's name is never shown

    done, last_running = poll(account, created.id, terminal)
    seen_at = time.monotonic()
    assert done.workflow_state == "imported_with_messages"  # the readme is skipped
    assert done.progress == 100
    assert done.processing_warnings == [["notes/readme.txt", "Skipping unknown file type"]]
    data = done.data
    assert data["supplied_batches"] == ["course", "user"]
    assert (data["counts"]["users"], data["counts"]["courses"]) == (1, 1)
    assert data["running_immediately"] is True
    assert data["statistics"]["Course"]["created"] == 1
    assert data["statistics"]["total_state_changes"] == 1  # users are not tracked: 0
    assert data["statistics"]["Pseudonym"] == {"created": 0, "restored": 0, "deleted": 0}
    # Extracted files by base name; the users file only as its filtered copy.
    names = [a["display_name"] for a in done.csv_attachments]
    assert names == ["courses.csv", "users_filtered.csv"]
    assert data["downloadable_attachment_ids"] == [a["id"] for a in done.csv_attachments]
    assert UPLOAD_NAME not in json.dumps(fields(done))
    if seen_at - last_running < ERRORS_DELAY:
        # The end came after our last running poll: its error file cannot be due yet.
        assert not hasattr(done, "errors_attachment")

    requester = account._requester
    filtered = requester.request("GET", _url=done.csv_attachments[1]["url"], use_auth=False)
    assert filtered.content == b"user_id,login_id,status\nu1,l1,active\n"

    written, _ = poll(account, created.id, lambda i: hasattr(i, "errors_attachment"))
    assert time.monotonic() - last_running > ERRORS_DELAY
    attachment = written.errors_attachment
    assert attachment["display_name"] == f"sis_errors_attachment_{created.id}.csv"
    assert written.ended_at == done.ended_at
    assert written.updated_at >= written.ended_at  # the job's save! bumps updated_at
    errors_csv = requester.request("GET", _url=attachment["url"], use_auth=False).text
    assert errors_csv == (
        "sis_import_id,file,message,row\n"
        f"{created.id},notes/readme.txt,Skipping unknown file type,\n"
    )
    errors = requester.request("GET", f"accounts/1/sis_imports/{created.id}/errors").json()
    assert errors == {
        "sis_import_errors": [
            {
                "sis_import_id": created.id,
                "file": "notes/readme.txt",
                "message": "Skipping unknown file type",
                "row_info": None,
                "row": None,
            }
        ]
    }


def test_an_import_by_another_admin_shows_that_user(sandbox: CanvasSandbox, upload: Path) -> None:
    second = Canvas(sandbox.base_url, SECOND_ADMIN).get_account(1)
    created = second.create_sis_import(str(upload))
    assert created.user["id"] == sandbox.user(SECOND_ADMIN)["id"]  # type: ignore[index]
    assert created.user["id"] != sandbox.user(TOKEN)["id"]  # type: ignore[index]
    mine = Canvas(sandbox.base_url, TOKEN).get_account(1).get_sis_import(created.id)
    assert mine.user == created.user  # every admin sees who created it


# --- csv_attachments timing: parallel vs inline ---------------------------------------------


def test_large_import_lists_its_files_while_importing(
    sandbox: CanvasSandbox, account: Any, tmp_path: Path
) -> None:
    sandbox.processing_seconds = 30.0
    rows = b"".join(b"u%d,l%d,active\n" % (i, i) for i in range(60))
    big = tmp_path / "big.zip"
    big.write_bytes(make_zip({"users.csv": b"user_id,login_id,status\n" + rows}))
    small = tmp_path / "small.zip"
    small.write_bytes(make_zip({"courses.csv": COURSES}))

    parallel = account.create_sis_import(str(big))
    running, _ = poll(account, parallel.id, lambda i: hasattr(i, "csv_attachments"))
    # More than 49 data rows: saved once prepared, so the names show while importing.
    assert running.workflow_state == "importing"
    assert [a["display_name"] for a in running.csv_attachments] == ["users.csv"]
    assert running.data["running_immediately"] is False
    assert running.data["completed_importers"] == []
    assert set(running.data["counts"].values()) == {0}
    assert parallel.abort().workflow_state == "aborted"

    inline = account.create_sis_import(str(small))
    importing, _ = poll(account, inline.id, lambda i: i.workflow_state == "importing")
    # Inline: nothing is saved before the end, so no csv_attachments yet.
    assert not hasattr(importing, "csv_attachments")
    assert importing.data == {"import_type": "instructure_csv"}
    sandbox.processing_seconds = 0.0
    inline.abort()


# --- lists, paging, aborts ------------------------------------------------------------------


def test_list_filters_and_link_paging(sandbox: CanvasSandbox, account: Any, upload: Path) -> None:
    sandbox.processing_seconds = 30.0
    ids = [account.create_sis_import(str(upload)).id for _ in range(5)]
    poll(account, ids[0], lambda i: i.workflow_state == "importing")
    created = account.get_sis_imports(workflow_state=["created"], per_page=2)
    assert [i.id for i in created] == ids[:0:-1]  # newest first, over three pages
    since = account.get_sis_imports(created_since="2000-01-01T00:00:00Z", per_page=2)
    assert [i.id for i in since] == ids[::-1]
    assert list(account.get_sis_imports(created_since="2999-01-01T00:00:00Z")) == []
    page = account._requester.request("GET", "accounts/1/sis_imports", per_page=2)
    assert set(page.links) == {"current", "next", "first"}  # Canvas never sends `last`
    assert [i.id for i in account.get_sis_imports_running()] == [ids[0]]


def test_abort_pending_then_running(sandbox: CanvasSandbox, account: Any, upload: Path) -> None:
    sandbox.processing_seconds = 30.0
    first, *queued = (account.create_sis_import(str(upload)) for _ in range(3))
    poll(account, first.id, lambda i: i.workflow_state == "importing")
    assert account.abort_sis_imports_pending() is True
    for item in queued:
        aborted = account.get_sis_import(item.id)
        assert (aborted.workflow_state, aborted.progress) == ("aborted", 100)
    assert account.get_sis_import(first.id).workflow_state == "importing"
    stopped = first.abort()
    assert (stopped.workflow_state, stopped.progress, stopped.ended_at) == ("aborted", 0, None)
    with pytest.raises(ResourceDoesNotExist):  # only not-completed imports can be aborted
        first.abort()
    assert list(account.get_sis_imports_running()) == []


# --- throttling ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error"), [(403, Forbidden), (429, RateLimitExceeded)])
def test_throttled_requests(
    sandbox: CanvasSandbox, account: Any, status: int, error: type[Exception]
) -> None:
    sandbox.throttling = Throttling(request_cost=700.0, status=status)
    # PaginatedList is lazy: list() sends the request.
    list(account.get_sis_imports_running())  # fills the bucket over the high-water mark
    with pytest.raises(error):
        list(account.get_sis_imports_running())
    assert sandbox.throttled() == 1


# --- a restart on the same data dir -------------------------------------------------------


def test_restart_on_the_same_data_dir_carries_on(tmp_path: Path, upload: Path) -> None:
    data_dir = tmp_path / "canvas"
    first = CanvasSandbox(accounts={"1": TOKEN}, processing_seconds=30.0, data_dir=data_dir)
    first.start()
    try:
        account = Canvas(first.base_url, TOKEN).get_account(1)
        running = account.create_sis_import(str(upload))
        queued = account.create_sis_import(str(upload))
        started, _ = poll(account, running.id, lambda i: i.workflow_state == "importing")
    finally:
        first.stop()  # like a Canvas whose job died mid-import

    # The daemon draws a new token at each start: still the account's integration user.
    with CanvasSandbox(
        accounts={"1": "fresh-token"},
        processing_seconds=0.1,
        errors_file_delay_seconds=0.0,
        data_dir=data_dir,
    ) as second:
        account = Canvas(second.base_url, "fresh-token").get_account(1)
        resumed, _ = poll(account, running.id, terminal)
        assert resumed.workflow_state == "imported_with_messages"
        assert resumed.started_at == started.started_at  # the same run, carried on
        assert resumed.user == running.user
        assert poll(account, queued.id, terminal)[0].workflow_state == "imported_with_messages"
        later = account.create_sis_import(str(upload))
        assert later.id == queued.id + 1  # ids never restart
        finished, _ = poll(account, later.id, terminal)
        seen = {a["id"] for i in (resumed, finished) for a in i.csv_attachments}
        assert len(seen) == 4  # attachment ids never collide either
        url = resumed.errors_attachment["url"]
        assert account._requester.request("GET", _url=url, use_auth=False).status_code == 200
