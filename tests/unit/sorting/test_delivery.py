"""Planning a delivery: batches by zip and folder, decisions, same-kind rules, row counts."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from gateway.sorting.config import ImportDefaults, SortingOptions
from gateway.sorting.delivery import plan_delivery
from gateway.sorting.validation import UploadVerdict, validate_upload
from gateway.state.records import UploadRecord
from gateway.state.states import UploadState

USERS = "user_id,login_id,status\nu1,l1,active\nu2,l2,active\n"
MORE_USERS = "user_id,login_id,status\nu3,l3,active\n"
COURSES = "course_id,short_name,long_name,status\nc1,C1,Course 1,active\n"


class Delivery:
    """Uploads written to a folder and validated, as the sorter would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.uploads: list[UploadRecord] = []
        self.verdicts: dict[int, UploadVerdict] = {}

    def add(self, name: str, content: str | bytes, folder: str | None = None) -> int:
        upload_id = len(self.uploads) + 1
        path = self.folder / str(upload_id)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        self.uploads.append(UploadRecord(
            id=upload_id, institution="alpha", filename=name, size=path.stat().st_size,
            sha256="0" * 64, state=UploadState.RECEIVED, kind=None, rows=None, problem=None,
            batch_id=None, received_at=0.0, folder=folder))
        self.verdicts[upload_id] = validate_upload(path, name)
        return upload_id

    def plan(self, sorting: SortingOptions | None = None,
             refused: dict[int, str] | None = None) -> list[list[tuple[str, bool]]]:
        plans = plan_delivery(self.uploads, self.verdicts, refused or {},
                              sorting or SortingOptions())
        return [[(u.filename, p.decisions[u.id].accepted) for u in p.uploads] for p in plans]


@pytest.fixture
def delivery(tmp_path: Path) -> Delivery:
    return Delivery(tmp_path)


def _zip(**members: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_zips_stand_alone_and_folders_split_batches_in_arrival_order(
        delivery: Delivery) -> None:
    delivery.add("users.csv", USERS)
    delivery.add("all.zip", _zip(**{"users.csv": USERS}))
    delivery.add("courses.csv", COURSES)
    delivery.add("users.csv", MORE_USERS, folder="batch/T1")
    assert delivery.plan() == [[("users.csv", True)], [("all.zip", True)],
                               [("courses.csv", True)], [("users.csv", True)]]


def test_a_blocked_file_is_rejected_with_the_finding_in_words(delivery: Delivery) -> None:
    upload = delivery.add("people.csv", "person,email\np1,x@y\n")
    delivery.add("users.csv", USERS)
    [plan] = plan_delivery(delivery.uploads, delivery.verdicts, {}, SortingOptions())
    decision = plan.decisions[upload]
    assert not decision.accepted
    assert decision.problem is not None
    assert "people.csv, row 1" in decision.problem
    assert "Couldn't find Canvas CSV import headers" in decision.problem
    assert any(f.blocking for f in decision.findings)


def test_intake_refusals_reject_the_file(delivery: Delivery) -> None:
    upload = delivery.add("users.csv", USERS)
    [plan] = plan_delivery(delivery.uploads, delivery.verdicts,
                           {upload: "checksum mismatch"}, SortingOptions())
    assert plan.decisions[upload].problem == "checksum mismatch"


def test_row_warnings_are_reported_but_do_not_block_by_default(delivery: Delivery) -> None:
    upload = delivery.add("users.csv", "user_id,login_id,status\nu1,,active\n")
    [plan] = plan_delivery(delivery.uploads, delivery.verdicts, {}, SortingOptions())
    assert plan.decisions[upload].accepted
    assert plan.decisions[upload].findings
    strict = SortingOptions(block_on_warnings=True)
    [blocked] = plan_delivery(delivery.uploads, delivery.verdicts, {}, strict)
    assert not blocked.decisions[upload].accepted


@pytest.mark.parametrize(("rule", "expected"), [
    ("merge", [("users.csv", True), ("users-2.csv", True)]),
    ("replace", [("users.csv", False), ("users-2.csv", True)]),
    ("reject", [("users.csv", False), ("users-2.csv", False)]),
])
def test_two_files_of_one_kind(rule: str, expected: list[tuple[str, bool]],
                               delivery: Delivery) -> None:
    delivery.add("users.csv", USERS)
    delivery.add("users-2.csv", MORE_USERS)
    assert delivery.plan(SortingOptions.model_validate({"same_kind": rule})) == [expected]


def test_options_and_row_counts_per_batch(delivery: Delivery) -> None:
    delivery.add("users.csv", USERS, folder="diff/nightly")
    delivery.add("courses.csv", COURSES, folder="diff/nightly")
    delivery.add("all.zip", _zip(**{"u.csv": USERS, "more/u2.csv": MORE_USERS}))
    plans = plan_delivery(delivery.uploads, delivery.verdicts, {},
                          SortingOptions(imports=ImportDefaults(change_threshold=15)))
    assert [p.options for p in plans] == [
        {"diffing_data_set_identifier": "nightly", "change_threshold": "15"}, {}]
    assert [p.row_counts for p in plans] == [{"user": 2, "course": 1}, {"user": 3}]


@pytest.mark.parametrize("members", [
    {}, {"folder/": ""}, {".hidden.csv": USERS, "__MACOSX/._users.csv": "x"},
    {"readme.txt": "hello"}])
def test_a_zip_with_no_csv_canvas_would_import_is_rejected_not_posted(
        delivery: Delivery, members: dict[str, str]) -> None:
    delivery.add("empty.zip", _zip(**members))
    [[(name, accepted)]] = delivery.plan()
    assert (name, accepted) == ("empty.zip", False)
    plans = plan_delivery(delivery.uploads, delivery.verdicts, {}, SortingOptions())
    assert "holds no CSV file" in (plans[0].decisions[1].problem or "")
