"""`gateway show`: everything about one batch or upload, as JSON or for people."""

from __future__ import annotations

import json
import re

import pytest

from gateway.ops.cli import main
from gateway.ops.show import batch_details
from gateway.state.custodies import build_shelf
from gateway.state.custody import Custody, PayloadKey
from gateway.state.local_custody import LocalCustody
from gateway.state.shelf import REPORTS
from gateway.state.spool import Spool
from gateway.state.states import BatchState
from gateway.state.store import Store
from tests.unit.history import Clock, imported


def _show(spool: Spool, *args: str) -> int:
    return main(["show", *args, "--data", str(spool.root)])


@pytest.mark.usefixtures("commands_store", "commands_custody")  # what --data opens
def test_show_batch_json_has_uploads_history_notices_and_files(
        spool: Spool, store: Store, custody: Custody, clock: Clock,
        capsys: pytest.CaptureFixture[str]) -> None:
    batch = imported(store, custody, clock, "alpha", waited=5, processing=2, import_id=77)
    custody.put(PayloadKey.batch_zip(batch), b"PK")
    with store.transaction() as txn:
        txn.add_notice("batch_report", "alpha", batch, batch_state=BatchState.IMPORTED)
    assert _show(spool, str(batch), "--json") == 0
    details = json.loads(capsys.readouterr().out)
    assert details["state"] == "imported"
    assert details["canvas_import"] == 77
    assert [u["filename"] for u in details["uploads"]] == ["users.csv"]
    assert [(h["from"], h["to"]) for h in details["history"]] == [
        (None, "open"), ("open", "ready"), ("ready", "submitting"),
        ("submitting", "importing"), ("importing", "imported")]
    assert details["history"][0]["at"].endswith("+00:00")
    assert details["notices"][0]["state"] == "pending"
    assert details["files"] == {"zip": custody.locate(PayloadKey.batch_zip(batch))}


@pytest.mark.usefixtures("commands_store", "commands_custody")
def test_show_upload_for_people(spool: Spool, store: Store, custody: Custody, clock: Clock,
                                capsys: pytest.CaptureFixture[str]) -> None:
    imported(store, custody, clock, "alpha", waited=5, processing=2)
    assert _show(spool, "upload", "1") == 0
    out = capsys.readouterr().out
    assert out.startswith("upload 1 (alpha): accepted")
    assert "\nfilename     users.csv\n" in out
    assert "received -> accepted" in out
    assert f"\npayload  {custody.locate(PayloadKey.upload(1))}\n" in out


def test_show_errors(spool: Spool, capsys: pytest.CaptureFixture[str]) -> None:
    assert _show(spool, "1") == 2  # no store yet
    assert "state.db missing" in capsys.readouterr().err
    Store(spool.database).close()
    assert _show(spool, "batch", "9") == 1
    assert "there is no batch 9" in capsys.readouterr().err
    assert _show(spool, "upload", "x") == 2
    assert _show(spool, "parcel", "1") == 2
    assert _show(spool, "batch", "1", "2") == 2


@pytest.mark.usefixtures("commands_store")
def test_show_batch_tells_how_canvas_was_read_and_names_duplicates(
        spool: Spool, store: Store, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    batch = imported(store, spool, clock, "alpha", waited=5, processing=2, import_id=77)
    identity = {"batch_id": batch, "attempt": 2, "api_user_id": 4001, "started_at": 1.0,
                "member_names": ["b000001-a2-users.csv"], "options": {}}
    evidence = {"at": 2.0, "verdict": "adopt", "why": "Canvas import 77 carries this "
                "attempt's file names", "duplicates": [75],
                "imports": [{"id": 75, "reading": "carries another attempt's file names"},
                            {"id": 77, "reading": "carries this attempt's file names"}]}
    with store.transaction() as txn:
        txn.update("batch", batch, BatchState.IMPORTED, identity_json=identity,
                   reconcile_json=evidence)
    assert _show(spool, str(batch)) == 0
    text = capsys.readouterr().out
    assert re.search(r"\nduplicate imports +75 \(Canvas shows more than one import of this "
                     r"batch\)\n", text)
    assert re.search(r"\nattempt files +b000001-a2-users.csv\n", text)
    assert re.search(r"\ncanvas user +4001\n", text)
    assert re.search(r"\n *75 +carries another attempt's file names\n", text)


@pytest.mark.usefixtures("commands_store")
def test_show_prints_canvas_messages_and_no_times_that_never_were(
        spool: Spool, store: Store, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    batch = imported(store, spool, clock, "alpha", waited=5, processing=2, import_id=77)
    answer = {"id": 77, "workflow_state": "imported_with_messages",
              "processing_errors": [["b000001-a1-users.csv", "Unknown role 'boss'"]],
              "processing_warnings": [["b000001-a1-users.csv", "user u9 has no email"]]}
    with store.transaction() as txn:
        txn.update("batch", batch, BatchState.IMPORTED, canvas_json=answer)
    assert _show(spool, str(batch), "--json") == 0
    details = json.loads(capsys.readouterr().out)
    assert details["canvas_errors"] == [{"file": "users.csv", "message": "Unknown role 'boss'"}]
    assert details["canvas_warnings"] == [{"file": "users.csv",
                                           "message": "user u9 has no email"}]
    assert details["next_attempt_at"] is None  # finished: nothing more is attempted
    assert "1970-01-01" not in json.dumps(details)
    assert _show(spool, str(batch)) == 0
    text = capsys.readouterr().out
    assert re.search(r"canvas errors:\n.*\n.*\nusers.csv +Unknown role 'boss'", text)
    assert re.search(r"canvas warnings:\n.*\n.*\nusers.csv +user u9 has no email", text)
    assert "next attempt" not in text


def test_show_says_where_the_published_reports_are(spool: Spool, store: Store,
                                                   custody: Custody, clock: Clock) -> None:
    # Local: the file in the SFTP home; cluster mode: the object's s3:// URL.
    batch = store.batch(imported(store, custody, clock, "alpha", waited=5, processing=2,
                                 import_id=77))
    shelf = build_shelf(spool, custody)
    shelf.publish_bytes("alpha", REPORTS, f"{batch.reference}.receipt.txt", b"receipt")
    assert batch_details(store, spool, custody, batch.id)["files"] == {
        "report": shelf.locate("alpha", REPORTS, f"{batch.reference}.receipt.txt"),
        "receipt": shelf.locate("alpha", REPORTS, f"{batch.reference}.receipt.txt")}
    shelf.publish_bytes("alpha", REPORTS, f"{batch.reference}.result.txt", b"result")
    files = batch_details(store, spool, custody, batch.id)["files"]
    assert files["report"] == files["result"]
    assert files["result"] == (
        str(spool.reports("alpha") / f"{batch.reference}.result.txt")
        if isinstance(custody, LocalCustody)
        else f"{custody.place}homes/alpha/reports/{batch.reference}.result.txt")
    store.close()
