"""Uploads waiting to be batched: running totals kept in the same transactions (on both
stores), and queries whose cost does not grow with how many uploads wait (on SQLite: counted
in its VM steps, which grow with the rows a statement visits, not timed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sorting.sorter import Sorter
from gateway.state import schema as schema_module
from gateway.state.local_custody import LocalCustody
from gateway.state.spool import Spool
from gateway.state.states import NoticeState, UploadState
from gateway.state.store import Store
from tests.conftest import DatabaseOpener
from tests.institution_records import institution
from tests.sqlite_steps import vm_steps


def _receive(store: Store, institution: str, count: int, size: int = 10) -> list[int]:
    with store.transaction() as txn:
        return [txn.record_upload(institution, f"u{n}.csv", size, "0" * 64)
                for n in range(count)]


def test_waiting_bytes_follow_receipts_and_batching(store: Store) -> None:
    ids = _receive(store, "alpha", 3, size=100)
    _receive(store, "beta", 1, size=7)
    assert store.waiting_bytes("alpha") == 300
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        txn.move("upload", ids[0], UploadState.RECEIVED, UploadState.ACCEPTED,
                 batch_id=batch_id)
        txn.reject_alone(ids[1], institution="alpha", reason="r", problem="p")
    assert (store.waiting_bytes("alpha"), store.waiting_bytes("beta")) == (100, 7)
    assert store.waiting_bytes("gamma") == 0


def test_a_rolled_back_receipt_leaves_the_totals_alone(store: Store) -> None:
    _receive(store, "alpha", 1, size=5)
    def crash_before_commit() -> None:
        with store.transaction() as txn:
            txn.record_upload("alpha", "late.csv", 50, "0" * 64)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_before_commit()
    assert store.waiting_bytes("alpha") == 5


def test_an_existing_store_gets_its_totals_from_its_waiting_uploads(
        empty_database: DatabaseOpener, monkeypatch: pytest.MonkeyPatch) -> None:
    step = next(n for n, sql in enumerate(schema_module.MIGRATIONS) if "waiting_totals" in sql)
    with monkeypatch.context() as before:  # a store from before the totals
        before.setattr(schema_module, "MIGRATIONS", schema_module.MIGRATIONS[:step])
        old = Store(empty_database())
    with old.database.transaction() as session:  # its waiting uploads, as it wrote them
        session.executemany(
            "INSERT INTO uploads (institution, filename, size, sha256, state, received_at,"
            " updated_at) VALUES ('alpha', ?, 3, ?, ?, 0, 0)",
            [(f"u{n}.csv", "0" * 64, UploadState.RECEIVED) for n in range(4)])
    old.close()
    store = Store(empty_database())
    assert store.waiting_bytes("alpha") == 12
    store.close()


def test_waiting_queries_read_the_same_rows_with_ten_or_five_thousand_waiting(
        sqlite_store: Store) -> None:
    store = sqlite_store
    _receive(store, "alpha", 10)
    few = [vm_steps(store, lambda: store.waiting_bytes("alpha")),
           vm_steps(store, lambda: store.waiting("alpha", newest=True, limit=1)),
           vm_steps(store, lambda: store.waiting_named("alpha", None, "u3.csv"))]
    _receive(store, "alpha", 5000)
    many = [vm_steps(store, lambda: store.waiting_bytes("alpha")),
            vm_steps(store, lambda: store.waiting("alpha", newest=True, limit=1)),
            vm_steps(store, lambda: store.waiting_named("alpha", None, "u3.csv"))]
    assert many == few
    full = vm_steps(store, lambda: store.waiting("alpha"))
    assert full > 100 * max(many)  # the counter does see a read of every waiting upload


def test_waiting_queries_use_their_indexes(sqlite_store: Store) -> None:
    store = sqlite_store
    plans = {
        "SELECT bytes FROM waiting_totals WHERE institution = ?": "SEARCH waiting_totals",
        "SELECT * FROM uploads INDEXED BY uploads_by_state WHERE institution = ? AND"
        " state = ? ORDER BY id DESC LIMIT 1": "SEARCH uploads USING INDEX uploads_by_state",
        "SELECT * FROM uploads INDEXED BY uploads_by_name WHERE institution = ? AND"
        " state = ? AND filename = ? AND folder IS NOT DISTINCT FROM ? ORDER BY id DESC LIMIT 1":
            "SEARCH uploads USING INDEX uploads_by_name",
    }
    for sql, index in plans.items():
        params = (None,) * sql.count("?")
        detail = " ".join(row[3] for row in store._rows(f"EXPLAIN QUERY PLAN {sql}", *params))
        assert index in detail, detail
        assert "SCAN" not in detail, detail
        assert "TEMP B-TREE" not in detail, detail


def test_the_sorter_waiting_for_quiet_reads_no_more_with_thousands_waiting(
        sqlite_store: Store, tmp_path: Path) -> None:
    store = sqlite_store
    spool = Spool(tmp_path / "data")
    institutions = {"alpha": institution("alpha")}
    sorter = Sorter(store=store, custody=LocalCustody(spool), institutions=lambda: institutions,
                    quiet_seconds=3600, on_ready=lambda: None)
    _receive(store, "alpha", 10)
    few = vm_steps(store, sorter.step)
    _receive(store, "alpha", 3000)
    many = vm_steps(store, sorter.step)
    assert store.batches() == []  # still waiting for quiet
    assert many <= few + 50, (few, many)


def _history(store: Store, count: int) -> None:
    """``count`` uploads batched long ago, each with a sent notice: history, not work."""
    ids = _receive(store, "alpha", count)
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        for upload_id in ids:
            txn.move("upload", upload_id, UploadState.RECEIVED, UploadState.ACCEPTED,
                     batch_id=batch_id)
            notice = txn.add_notice("batch_report", "alpha", batch_id)
            txn.move("notice", notice, NoticeState.PENDING, NoticeState.SENT)


def test_the_outbox_and_oldest_waiting_gauges_read_no_more_with_long_history(
        sqlite_store: Store) -> None:
    store = sqlite_store
    _receive(store, "beta", 3)
    with store.transaction() as txn:
        txn.add_notice("batch_report", "beta", None)
    _history(store, 10)
    few = [vm_steps(store, store.outbox_depth), vm_steps(store, store.oldest_waiting_uploads)]
    _history(store, 3000)
    many = [vm_steps(store, store.outbox_depth), vm_steps(store, store.oldest_waiting_uploads)]
    assert many == few
    assert store.outbox_depth() == {"pending": 1}
    assert list(store.oldest_waiting_uploads()) == ["beta"]
