"""Retention reads only what expired since its last pass, on either backend."""

from __future__ import annotations

from gateway.state.retention import DAY, Retention
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES, BatchState
from gateway.state.store import Store
from tests.unit.history import Clock


def _batch(store: Store, *path: BatchState) -> int:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        previous = BatchState.OPEN
        for state in path:
            txn.move("batch", batch_id, previous, state)
            previous = state
    return batch_id


def test_expired_batches_are_purged_once_and_never_read_again(
        store: Store, spool: Spool, clock: Clock) -> None:
    old = [_batch(store, BatchState.REJECTED) for _ in range(3)]
    held = _batch(store, BatchState.READY, BatchState.HELD)
    for batch_id in (*old, held):
        spool.batch_zip_path(batch_id).write_bytes(b"PK")
    clock.now += 10 * DAY
    recent = _batch(store, BatchState.REJECTED)
    spool.batch_zip_path(recent).write_bytes(b"PK")
    retention = Retention(store=store, spool=spool, retention_days=5)

    retention.step()
    assert [spool.batch_zip_path(b).exists() for b in (*old, held, recent)] == [
        False, False, False, True, True]
    assert store.unpurged_batches(FINISHED_BATCH_STATES, clock.now - 5 * DAY, 100) == []
    assert store.batch(old[0]).state is BatchState.REJECTED  # the record stays

    spool.batch_zip_path(old[0]).write_bytes(b"PK")  # a purged batch is not looked at again
    retention.step()
    assert spool.batch_zip_path(old[0]).exists()
    clock.now += 10 * DAY
    retention.step()
    assert not spool.batch_zip_path(recent).exists()
    assert spool.batch_zip_path(held).exists()


def test_retention_reads_the_unpurged_batches_through_their_index(sqlite_store: Store) -> None:
    plan = " ".join(row[3] for row in sqlite_store.database.rows(
        "EXPLAIN QUERY PLAN SELECT * FROM batches INDEXED BY batches_unpurged WHERE"
        " purged_at IS NULL AND state IN ('imported', 'rejected') AND"
        " COALESCE(finished_at, created_at) <= 0 ORDER BY id LIMIT 5"))
    assert "batches_unpurged" in plan
    assert "TEMP B-TREE" not in plan
