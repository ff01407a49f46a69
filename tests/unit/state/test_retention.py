"""Archive and retention through the custody, on both store backends and both custodies:
an ended batch's payloads are archived, then purged with the archive (and its reports from
the shelf) once older than the retention; each pass reads only what expired since the
last."""

from __future__ import annotations

import os
import time

from gateway.state.archive import archive_batch
from gateway.state.custodies import build_shelf
from gateway.state.custody import Area, Custody, PayloadKey, upload_key
from gateway.state.local_custody import LocalCustody
from gateway.state.report_names import ReportStage, report_name
from gateway.state.retention import DAY, Retention
from gateway.state.shelf import REPORTS
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES, BatchState
from gateway.state.store import Store
from tests.spooled import spooled
from tests.unit.history import TO_IMPORTING, Clock, batch_of


def _batch(store: Store, *path: BatchState) -> int:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        previous = BatchState.OPEN
        for state in path:
            txn.move("batch", batch_id, previous, state)
            previous = state
    return batch_id


def _kept(custody: Custody, batch_id: int) -> bool:
    return custody.size(PayloadKey.batch_zip(batch_id)) is not None


def test_expired_batches_are_purged_once_and_never_read_again(
        store: Store, spool: Spool, custody: Custody, clock: Clock) -> None:
    old = [_batch(store, BatchState.REJECTED) for _ in range(3)]
    held = _batch(store, BatchState.READY, BatchState.HELD)
    for batch_id in (*old, held):
        custody.put(PayloadKey.batch_zip(batch_id), b"PK")
    clock.now += 10 * DAY
    recent = _batch(store, BatchState.REJECTED)
    custody.put(PayloadKey.batch_zip(recent), b"PK")
    retention = Retention(store=store, spool=spool, custody=custody, retention_days=5)

    retention.step()
    assert [_kept(custody, b) for b in (*old, held, recent)] == [
        False, False, False, True, True]
    assert store.unpurged_batches(FINISHED_BATCH_STATES, clock.now - 5 * DAY, 100) == []
    assert store.batch(old[0]).state is BatchState.REJECTED  # the record stays

    custody.put(PayloadKey.batch_zip(old[0]), b"PK")  # a purged batch is not looked at again
    retention.step()
    assert _kept(custody, old[0])
    clock.now += 10 * DAY
    retention.step()
    assert not _kept(custody, recent)
    assert _kept(custody, held)


def test_retention_reads_the_unpurged_batches_through_their_index(sqlite_store: Store) -> None:
    plan = " ".join(row[3] for row in sqlite_store.database.rows(
        "EXPLAIN QUERY PLAN SELECT * FROM batches INDEXED BY batches_unpurged WHERE"
        " purged_at IS NULL AND state IN ('imported', 'rejected') AND"
        " COALESCE(finished_at, created_at) <= 0 ORDER BY id LIMIT 5"))
    assert "batches_unpurged" in plan
    assert "TEMP B-TREE" not in plan


def test_an_ended_batch_is_archived_then_purged_after_its_time(
        store: Store, spool: Spool, custody: Custody, clock: Clock) -> None:
    with store.transaction() as txn:
        upload_id = txn.record_upload("alpha", "users.csv", 4, "0" * 64, payload="r-users")
    custody.put(upload_key(store.upload(upload_id)), b"u1,l")
    batch_id = batch_of(store, [upload_id], (*TO_IMPORTING, BatchState.IMPORTED),
                        import_id=7, finished_at=clock.now)
    custody.put(PayloadKey.batch_zip(batch_id), b"PK zip")
    custody.put(PayloadKey.batch_errors(batch_id), b"sis_import_id,file,message,row\n")
    batch = store.batch(batch_id)
    archive_batch(custody, batch, store.uploads(batch_id=batch_id), [], {"r.txt": b"report"})
    archive_batch(custody, batch, store.uploads(batch_id=batch_id), [], {"r.txt": b"report"})

    archived = {key.name.removeprefix(f"alpha/batch-{batch_id:06d}/")
                for key in custody.keys(Area.ARCHIVE)}
    assert archived == {"received/01-users.csv", "received.json", "sent-to-canvas.zip",
                        "canvas-errors.csv", "history.json", "r.txt"}
    with custody.open(PayloadKey.archived("alpha", batch_id, "sent-to-canvas.zip")) as sent:
        assert sent.read() == b"PK zip"

    retention = Retention(store=store, spool=spool, custody=custody, retention_days=1)
    retention.step()
    assert custody.size(PayloadKey.batch_zip(batch_id)) is not None  # not old enough yet
    clock.now += 2 * DAY
    retention.step()
    for area in Area:
        assert list(custody.keys(area)) == []
    assert store.batch(batch_id).state is BatchState.IMPORTED  # the record stays


def test_the_hourly_pass_sets_aside_old_unrecorded_uploads_only(
        sqlite_store: Store, spool: Spool) -> None:
    # A payload put whose record never came: quarantined by the running gateway once it is
    # an hour old, not only at the next start; a young one may be mid-receive: left alone.
    custody = LocalCustody(spool)
    old, young = PayloadKey.received("old-orphan"), PayloadKey.received("young-orphan")
    custody.put(old, b"user_id\n")
    custody.put(young, b"user_id\n")
    two_hours_ago = time.time() - 7200
    os.utime(spooled(spool, old), (two_hours_ago, two_hours_ago))
    with sqlite_store.transaction() as txn:
        recorded = PayloadKey.received("recorded")
        txn.record_upload("alpha", "users.csv", 8, "0" * 64, payload=recorded.name)
    custody.put(recorded, b"user_id\n")
    os.utime(spooled(spool, recorded), (two_hours_ago, two_hours_ago))

    Retention(store=sqlite_store, spool=spool, custody=custody, retention_days=30).step()
    assert sorted(key.name for key in custody.keys(Area.UPLOADS)) == [
        "r-recorded", "r-young-orphan"]
    assert [key.name for key in custody.keys(Area.QUARANTINE)
            if not key.name.endswith(".reason.txt")] == ["upload-r-old-orphan"]


def test_an_expired_batch_s_reports_leave_the_shelf(
        store: Store, spool: Spool, custody: Custody, clock: Clock) -> None:
    # On S3 (cluster mode) the reports are objects: retention deletes them from the bucket.
    shelf = build_shelf(spool, custody)
    old = _batch(store, BatchState.REJECTED)
    reference = store.batch(old).reference
    for name in (report_name(reference, ReportStage.RECEIPT, ".txt"),
                 report_name(reference, ReportStage.RESULT, ".json"), f"{reference}.txt"):
        shelf.publish_bytes("alpha", REPORTS, name, b"report")
    shelf.publish_bytes("alpha", REPORTS, "status.json", b"{}")
    clock.now += 10 * DAY
    recent = _batch(store, BatchState.REJECTED)
    kept = report_name(store.batch(recent).reference, ReportStage.RESULT, ".txt")
    shelf.publish_bytes("alpha", REPORTS, kept, b"report")

    Retention(store=store, spool=spool, custody=custody, retention_days=5).step()
    assert [entry.name for entry in shelf.files("alpha", REPORTS)] == [kept, "status.json"]
    if not isinstance(custody, LocalCustody):
        assert [key.name for key in custody.keys(Area.HOMES, "alpha/reports/")] == [
            f"alpha/reports/{kept}", "alpha/reports/status.json"]
