"""Start-up recovery: partial uploads removed, orphans quarantined, interruptions counted."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.state.custody import REASON_SUFFIX, Area, Custody, PayloadKey
from gateway.state.local_custody import LocalCustody
from gateway.state.recovery import mark_clean_stop, recover
from gateway.state.spool import Spool
from gateway.state.states import BatchState, NoticeState
from gateway.state.store import Store
from tests.conftest import StoreMaker
from tests.spooled import spooled

Setup = Callable[[Path], tuple[Store, Spool]]


@pytest.fixture
def setup(make_store: StoreMaker, tmp_path: Path) -> Callable[[Path], tuple[Store, Spool]]:
    """``setup(tmp_path)``: the store on each backend and a spool for alpha."""
    def made(root: Path) -> tuple[Store, Spool]:
        spool = Spool(root)
        spool.create(["alpha"])
        return make_store(time.time), spool
    return made


def test_partial_uploads_and_temp_files_are_removed(setup: Setup, tmp_path: Path) -> None:
    store, spool = setup(tmp_path)
    (spool.incoming / "alpha.abc.part").write_bytes(b"half a file")
    (spool.batches / ".00000001.zip.1234.tmp").write_bytes(b"half a zip")
    report = recover(store, spool, LocalCustody(spool), max_recoveries=3)
    assert report.partial_uploads_removed == 1
    assert report.temp_files_removed == 1
    assert list(spool.incoming.iterdir()) == []


def test_unrecorded_upload_is_quarantined_with_a_reason(setup: Setup, tmp_path: Path) -> None:
    store, spool = setup(tmp_path)
    with store.transaction() as txn:
        known = txn.record_upload("alpha", "users.csv", 3, "0" * 64)
    spooled(spool, PayloadKey.upload(known)).write_bytes(b"abc")
    spooled(spool, PayloadKey.upload(known + 1)).write_bytes(b"orphan")
    report = recover(store, spool, LocalCustody(spool), max_recoveries=3)
    assert report.orphans_quarantined == [f"{known + 1:08d}"]
    assert spooled(spool, PayloadKey.upload(known)).exists()
    kept = spool.quarantine / f"upload-{known + 1:08d}"
    assert kept.read_bytes() == b"orphan"
    assert "never recorded" in kept.with_name(kept.name + ".reason.txt").read_text()


def test_interrupted_batches_resume_until_the_limit_then_are_held(
        setup: Setup, tmp_path: Path, custody: Custody) -> None:
    store, spool = setup(tmp_path)
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
        txn.move("batch", batch_id, BatchState.READY, BatchState.SUBMITTING)
    for _ in range(2):
        assert recover(store, spool, custody,
                       max_recoveries=2).batches_resumed == [batch_id]
    assert store.batch(batch_id).state is BatchState.SUBMITTING
    report = recover(store, spool, custody, max_recoveries=2)
    assert report.batches_held == [batch_id]
    held = store.batch(batch_id)
    assert held.state is BatchState.HELD
    assert "interrupted 3 times" in (held.reason or "")
    assert [n.batch_id for n in store.notices(state=NoticeState.PENDING)] == [batch_id]


def _submitting(store: Store) -> int:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
        txn.move("batch", batch_id, BatchState.READY, BatchState.SUBMITTING)
    return batch_id


def test_clean_stops_never_count_as_interruptions(setup: Setup, tmp_path: Path,
                                                  custody: Custody) -> None:
    store, spool = setup(tmp_path)
    batch_id = _submitting(store)
    for _ in range(5):
        mark_clean_stop(store)
        report = recover(store, spool, custody, max_recoveries=2)
        assert report.batches_resumed == []
        assert report.batches_held == []
    assert store.batch(batch_id).state is BatchState.SUBMITTING
    assert store.batch(batch_id).recoveries == 0
    # The mark is consumed by the start it belongs to: a crash after it counts again.
    assert recover(store, spool, custody,
                   max_recoveries=2).batches_resumed == [batch_id]


def test_a_crash_while_only_waiting_for_canvas_interrupts_nothing(
        setup: Setup, tmp_path: Path, custody: Custody) -> None:
    store, spool = setup(tmp_path)
    batch_id = _submitting(store)
    with store.transaction() as txn:  # the POST ended (its answer lost): reconcile later
        txn.update("batch", batch_id, BatchState.SUBMITTING, post_settles_at=txn.now + 30)
    for _ in range(4):
        assert recover(store, spool, custody,
                       max_recoveries=2).batches_resumed == []
    assert store.batch(batch_id).state is BatchState.SUBMITTING


def test_orphans_are_quarantined_on_every_custody(store: Store, spool: Spool,
                                                   custody: Custody) -> None:
    with store.transaction() as txn:
        named = txn.record_upload("alpha", "users.csv", 3, "0" * 64, payload="r-abc")
        by_id = txn.record_upload("alpha", "courses.csv", 3, "0" * 64)
    custody.put(PayloadKey(Area.UPLOADS, "r-abc"), b"abc")
    custody.put(PayloadKey.upload(by_id), b"def")
    custody.put(PayloadKey.received("lost"), b"put, then the gateway died")

    report = recover(store, spool, custody, max_recoveries=3)

    assert report.orphans_quarantined == ["r-lost"]
    assert [key.name for key in custody.keys(Area.UPLOADS)] == [f"{by_id:08d}", "r-abc"]
    assert named != by_id
    with custody.open(PayloadKey.quarantined("upload-r-lost")) as kept:
        assert kept.read() == b"put, then the gateway died"
    with custody.open(PayloadKey.quarantined(f"upload-r-lost{REASON_SUFFIX}")) as reason:
        assert b"never recorded" in reason.read()


def test_a_young_orphan_waits_for_its_grace(store: Store, spool: Spool,
                                            custody: Custody) -> None:
    # In cluster mode another node may be between its put and its record.
    custody.put(PayloadKey.received("young"), b"being recorded elsewhere")
    report = recover(store, spool, custody, max_recoveries=3, orphan_grace_seconds=3600)
    assert report.orphans_quarantined == []
    assert custody.size(PayloadKey.received("young")) is not None
