"""The store's transitions: only drawn edges, compare-and-set, side effects in one commit."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from gateway.state import schema as schema_module
from gateway.state.counters import Family
from gateway.state.states import (
    BATCH_TRANSITIONS,
    BatchState,
    NoticeKind,
    NoticeState,
    TransitionError,
    UploadState,
)
from gateway.state.store import Store
from tests.conftest import DatabaseOpener


def test_a_batch_moves_along_drawn_edges_and_logs_each(store: Store) -> None:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
        txn.move("batch", batch_id, BatchState.READY, BatchState.SUBMITTING, attempts=1)
    batch = store.batch(batch_id)
    assert batch.state is BatchState.SUBMITTING
    assert batch.attempts == 1
    log = store.history("batch", batch_id)
    assert [(r["from"], r["to"]) for r in log] == [(None, "open"), ("open", "ready"),
                                           ("ready", "submitting")]


def test_an_undrawn_edge_is_refused(store: Store) -> None:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
    with pytest.raises(TransitionError, match="not allowed"), store.transaction() as txn:
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.IMPORTED)
    assert store.batch(batch_id).state is BatchState.OPEN


def test_compare_and_set_fails_when_someone_else_moved_it(store: Store) -> None:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
    with pytest.raises(TransitionError, match="no longer open"), store.transaction() as txn:
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)


def test_a_failed_transaction_leaves_no_side_effects(store: Store) -> None:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)

    def notice_then_stale_move() -> None:
        with store.transaction() as txn:
            txn.add_notice("batch_report", "alpha", batch_id)
            txn.move("batch", batch_id, BatchState.OPEN, BatchState.REJECTED)

    with pytest.raises(TransitionError):
        notice_then_stale_move()
    assert store.notices() == []


def test_only_one_of_four_racing_threads_wins(store: Store) -> None:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        barrier.wait()
        try:
            with store.transaction() as txn:
                txn.move("batch", batch_id, BatchState.READY, BatchState.SUBMITTING)
            outcomes.append("won")
        except TransitionError:
            outcomes.append("lost")

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]


def test_racing_threads_get_distinct_batch_numbers_and_one_alert(store: Store) -> None:
    """The next batch number and the alert interval are read, then written: on PostgreSQL's
    READ COMMITTED two racers would read the same value without the decision lock."""
    barrier = threading.Barrier(4)
    alerts: list[bool] = []

    def create() -> None:
        barrier.wait()
        for _ in range(5):
            with store.transaction() as txn:
                txn.create_batch("alpha")
                alerts.append(txn.ops_alert_allowed("alpha", 3600.0))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(b.number or 0 for b in store.batches(institution="alpha")) == list(
        range(1, 21))
    assert sorted(alerts) == [False] * 19 + [True]


def test_notices_become_visible_in_id_order(store: Store) -> None:
    # A reader keeping a cursor over notice ids (the webhook sender) must never see a
    # higher id before a lower one commits: it would skip the lower one for good.
    holding, release = threading.Event(), threading.Event()
    first: list[int] = []

    def slow_writer() -> None:
        with store.transaction() as txn:
            first.append(txn.add_notice(NoticeKind.BATCH_REPORT, "alpha", None))
            holding.set()
            release.wait(30)

    def quick_writer() -> None:
        with store.transaction() as txn:
            txn.add_notice(NoticeKind.BATCH_REPORT, "beta", None)

    slow = threading.Thread(target=slow_writer)
    slow.start()
    assert holding.wait(10)
    quick = threading.Thread(target=quick_writer)
    quick.start()
    quick.join(1.0)
    seen_meanwhile = [notice.id for notice in store.notices_after(0)]
    release.set()
    slow.join(10)
    quick.join(10)
    assert seen_meanwhile == []  # the later writer waited for the earlier one's commit
    assert [n.institution for n in store.notices_after(0)] == ["alpha", "beta"]
    assert store.notices_after(0)[0].id == first[0]


def test_every_batch_state_has_a_transition_row() -> None:
    assert set(BATCH_TRANSITIONS) == set(BatchState)


def test_head_batch_is_the_oldest_unfinished(store: Store) -> None:
    with store.transaction() as txn:
        first = txn.create_batch("alpha")
        second = txn.create_batch("alpha")
        other = txn.create_batch("beta")
        txn.move("batch", first, BatchState.OPEN, BatchState.REJECTED)
    finished = frozenset({BatchState.REJECTED})
    head = store.head_batch("alpha", finished)
    assert head is not None
    assert head.id == second
    beta_head = store.head_batch("beta", finished)
    assert beta_head is not None
    assert beta_head.id == other


def test_uploads_and_due_notices_are_queried_in_order(store: Store) -> None:
    with store.transaction() as txn:
        ids = [txn.record_upload("alpha", f"f{i}.csv", i, "0" * 64) for i in range(3)]
        notice = txn.add_notice("batch_report", "alpha", None)
    assert [u.id for u in store.uploads(state=UploadState.RECEIVED)] == ids
    assert [n.id for n in store.notices(state=NoticeState.PENDING, due_by=store.clock())] == [
        notice]
    assert store.notices(state=NoticeState.PENDING, due_by=0) == []


def test_uploads_keep_the_folder_they_came_through(empty_database: DatabaseOpener,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Recorded with its upload folder; a store from before the folder column gets it, with
    None (plain /inbox) for the uploads it already holds."""
    step = next(n for n, sql in enumerate(schema_module.MIGRATIONS) if "folder TEXT" in sql)
    with monkeypatch.context() as before:
        before.setattr(schema_module, "MIGRATIONS", schema_module.MIGRATIONS[:step])
        old = Store(empty_database())
    with old.database.transaction() as session:  # a row as that version wrote it
        session.execute("INSERT INTO uploads (institution, filename, size, sha256, state,"
                        " received_at, updated_at) VALUES ('alpha', 'users.csv', 1, ?, ?, 0, 0)",
                        ("0" * 64, UploadState.RECEIVED))
    old.close()
    store = Store(empty_database())
    with store.transaction() as txn:
        txn.record_upload("alpha", "users.csv", 2, "0" * 64, folder="batch/2026-fall")
        txn.record_upload("alpha", "users.csv", 3, "0" * 64, folder="diff/nightly-sis")
    assert [u.folder for u in store.uploads()] == [None, "batch/2026-fall", "diff/nightly-sis"]
    store.close()


def test_a_store_made_by_the_code_before_schema_version_upgrades_in_place(
        tmp_path: Path) -> None:
    """``data/main-c5997a7.db`` was written by the store of commit c5997a7, which counted its
    schema steps in ``PRAGMA user_version`` (15 then): that count is carried into the
    ``schema_version`` table, no step runs twice, and the records read and write as before."""
    path = tmp_path / "state.db"
    shutil.copyfile(Path(__file__).parent / "data" / "main-c5997a7.db", path)
    store = Store(path)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [
            (len(schema_module.MIGRATIONS),)]
    (batch,) = store.batches(institution="alpha")
    assert (batch.options, batch.number) == ({"x": "1"}, 1)
    assert [u.filename for u in store.uploads(batch_id=batch.id)] == ["users.csv"]
    assert list(store.institution_holds()) == ["beta"]
    counted = {(row.family, row.institution): row.value for row in store.counters(
        (Family.UPLOADS, Family.UPLOAD_BYTES, Family.LAST_UPLOAD, Family.IMPORTS))}
    assert counted == {("uploads", "alpha"): 1, ("upload_bytes", "alpha"): 10,
                       ("last_upload", "alpha"): 1000.0}  # filled from its history
    with store.transaction() as txn:
        assert txn.create_batch("alpha") == batch.id + 1
    assert store.batch(batch.id + 1).number == 2
