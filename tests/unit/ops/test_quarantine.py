"""`gateway quarantine list|show|requeue`: files set aside, and receiving one again."""

from __future__ import annotations

import json
import re
import time
import zipfile
from pathlib import Path

import pytest

from gateway.ops.cli import main
from gateway.ops.quarantine import preview, quarantined, quarantined_file, requeue
from gateway.sorting.sorter import Sorter
from gateway.state.custody import REASON_SUFFIX, Area, Custody, PayloadKey, upload_key
from gateway.state.spool import Spool
from gateway.state.states import BatchState, UploadState
from gateway.state.store import Store
from tests.institution_records import institution
from tests.unit.history import Clock

USERS = b"user_id,login_id,status\nu1,l1,active\n"
pytestmark = pytest.mark.usefixtures("commands_store", "commands_custody")  # what --data opens


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path)
    spool.create(["demo"])
    return spool


def _set_aside(custody: Custody, name: str, body: bytes, reason: str) -> None:
    custody.put(PayloadKey.quarantined(name), body)
    custody.put(PayloadKey.quarantined(f"{name}{REASON_SUFFIX}"), reason.encode() + b"\n")


def _cli(spool: Spool, *args: str) -> int:
    return main(["quarantine", *args, "--data", str(spool.root)])


def test_list_and_show(spool: Spool, store: Store, custody: Custody,
                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert _cli(spool, "list") == 0
    assert capsys.readouterr().out.strip() == "nothing in quarantine"
    _set_aside(custody, "upload-00000007", USERS, "never recorded")
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as archive:
        archive.writestr("users.csv", USERS)
    _set_aside(custody, "upload-00000008", (tmp_path / "x.zip").read_bytes(), "interrupted")

    assert _cli(spool, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(item["name"], item["reason"]) for item in listed] == [
        ("upload-00000007", "never recorded"), ("upload-00000008", "interrupted")]
    assert _cli(spool, "show", "upload-00000007") == 0
    out = capsys.readouterr().out
    assert re.search(r"\nreason +never recorded\n", out)
    assert _cli(spool, "list") == 0
    assert re.search(r"upload-00000007 +37 +\S+ +never recorded\n", capsys.readouterr().out)
    assert "  user_id,login_id,status" in out
    assert _cli(spool, "show", "upload-00000008", "--json") == 0
    assert json.loads(capsys.readouterr().out)["first_lines"] == ["(a zip archive)"]
    assert _cli(spool, "show", "../state.db") == 1
    assert "not a quarantined file name" in capsys.readouterr().err


def test_requeue_receives_the_file_and_the_sorter_batches_it(
        spool: Spool, store: Store, custody: Custody, clock: Clock,
        capsys: pytest.CaptureFixture[str]) -> None:
    _set_aside(custody, "upload-00000007", USERS, "never recorded")
    assert _cli(spool, "requeue", "upload-00000007", "--institution", "demo") == 0
    assert "received again as upload 1 of demo" in capsys.readouterr().out
    assert list(custody.keys(Area.QUARANTINE)) == []
    [upload] = store.uploads()
    assert (upload.institution, upload.filename, upload.state) == (
        "demo", "upload-00000007.csv", UploadState.RECEIVED)
    with custody.open(upload_key(upload)) as kept:
        assert kept.read() == USERS

    clock.now = time.time()  # the command received it on the real clock
    sorter = Sorter(store=store, custody=custody,
                    institutions=lambda: {"demo": institution("demo")},
                    quiet_seconds=0, on_ready=lambda: None)
    sorter.run_round()
    [batch] = store.batches()
    assert batch.state is BatchState.READY


def test_requeue_refusals_change_nothing(spool: Spool, store: Store, custody: Custody,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _set_aside(custody, "upload-00000007", USERS, "never recorded")
    assert _cli(spool, "requeue", "upload-00000007", "--institution", "nobody") == 1
    assert "there is no institution 'nobody' (configured: " in capsys.readouterr().err
    assert _cli(spool, "requeue", "upload-00000007", "--institution", "demo",
                "--as", ".hidden.csv") == 1
    assert _cli(spool, "requeue", "missing", "--institution", "demo") == 1
    assert "there is no quarantined file 'missing'" in capsys.readouterr().err
    assert custody.size(PayloadKey.quarantined("upload-00000007")) == len(USERS)
    assert store.uploads() == []


def test_list_preview_and_requeue_on_every_custody(store: Store, custody: Custody) -> None:
    custody.put(PayloadKey.quarantined("upload-r-lost"), USERS)
    custody.put(PayloadKey.quarantined(f"upload-r-lost{REASON_SUFFIX}"), b"never recorded\n")
    [item] = quarantined(custody)
    assert (item.name, item.size, item.reason) == ("upload-r-lost", len(USERS),
                                                   "never recorded")
    sha256, lines = preview(custody, item)
    assert lines[0] == "user_id,login_id,status"

    upload_id = requeue(store, custody, quarantined_file(custody, "upload-r-lost"),
                        institution="demo", configured=["demo"])

    upload = store.upload(upload_id)
    assert (upload.filename, upload.sha256) == ("upload-r-lost.csv", sha256)
    with custody.open(upload_key(upload)) as kept:
        assert kept.read() == USERS
    assert list(custody.keys(Area.QUARANTINE)) == []
