"""Metric counters kept in the transactions that change what they count, on both backends:
what they count, that racing writers lose no count, that a rolled-back change counts
nothing, and that the schema step's one-time fill from history gives what counting live
would have."""

from __future__ import annotations

import threading

import pytest

from gateway.state import schema
from gateway.state.counters import (
    POST_TO_FINISH_BUCKETS,
    UPLOAD_TO_POST_BUCKETS,
    Family,
    bucket_label,
)
from gateway.state.spool import Spool
from gateway.state.states import BatchState, ExportRunState
from gateway.state.store import Store
from tests.unit.history import Clock, batch_of, imported, received

Counts = dict[tuple[str, str, str, str], float]


def _counts(store: Store) -> Counts:
    return {(row.family, row.institution, row.export, row.label): row.value
            for row in store.counters(list(Family))}


def _export_run(store: Store, institution: str, export: str, slot: str,
                *path: ExportRunState) -> None:
    with store.transaction() as txn:
        run_id = txn.add_export_run(institution, export, "provisioning_csv", slot=slot,
                                    trigger="schedule", parameters={})
        assert run_id is not None
        previous = ExportRunState.SCHEDULED
        for state in path:
            published = txn.now if state is ExportRunState.PUBLISHED else None
            txn.move("export_run", run_id, previous, state, published_at=published)
            previous = state


_PUBLISHED = (ExportRunState.STARTING, ExportRunState.STARTED, ExportRunState.DOWNLOADED,
              ExportRunState.PUBLISHED)


def _history(store: Store, spool: Spool, clock: Clock) -> None:
    """Imports of every outcome, a rejected and a skipped batch, export runs that ended."""
    imported(store, spool, clock, "alpha", waited=40, processing=3)
    imported(store, spool, clock, "alpha", waited=20, processing=100,
             outcome=BatchState.FAILED)
    imported(store, spool, clock, "alpha", waited=90000, processing=20000,
             outcome=BatchState.IMPORTED_WITH_MESSAGES)
    batch_of(store, [received(store, spool, "beta", "users.csv")], (BatchState.REJECTED,),
             finished_at=clock.now)
    batch_of(store, [received(store, spool, "beta", "courses.csv", b"x" * 5)],
             (BatchState.READY, BatchState.SKIPPED))
    received(store, spool, "gamma", "users.csv")
    clock.now += 60
    _export_run(store, "alpha", "nightly", "s1", *_PUBLISHED)
    _export_run(store, "alpha", "nightly", "s2", ExportRunState.FAILED)
    _export_run(store, "alpha", "nightly", "s3")  # under way: not counted


def test_counters_follow_uploads_imports_and_exports(
        store: Store, spool: Spool, clock: Clock) -> None:
    _history(store, spool, clock)
    counts = _counts(store)
    assert counts[("uploads", "alpha", "", "")] == 3
    assert counts[("upload_bytes", "beta", "", "")] == 37 + 5
    assert counts[("last_upload", "gamma", "", "")] == clock.now - 60
    assert counts[("imports", "alpha", "", "failed")] == 1
    assert counts[("imports", "alpha", "", "imported_with_messages")] == 1
    assert counts[("batches_finished", "beta", "", "rejected")] == 1
    assert counts[("batches_finished", "beta", "", "skipped")] == 1
    assert ("batches_finished", "alpha", "", "failed") not in counts  # not a finished state
    assert counts[("upload_to_post", "alpha", "", "60.0")] == 1  # 40 s
    assert counts[("upload_to_post", "alpha", "", "30.0")] == 1  # 20 s
    assert counts[("upload_to_post", "alpha", "", "+Inf")] == 1  # 90,000 s
    assert counts[("upload_to_post", "alpha", "", "sum")] == 90060
    assert counts[("post_to_finish", "alpha", "", "5.0")] == 1
    assert counts[("post_to_finish", "alpha", "", "+Inf")] == 1
    assert counts[("export_runs_ended", "alpha", "nightly", "published")] == 1
    assert counts[("export_runs_ended", "alpha", "nightly", "failed")] == 1
    assert counts[("export_last_published", "alpha", "nightly", "")] == clock.now
    assert store.active_export_run_counts() == {("alpha", "nightly", "scheduled"): 1}


def _step() -> str:
    return next(text for text in schema.MIGRATIONS
                if "TABLE IF NOT EXISTS metric_counters" in text)


def test_the_schema_steps_fill_from_history_gives_what_counting_live_gave(
        store: Store, spool: Spool, clock: Clock) -> None:
    _history(store, spool, clock)
    live = _counts(store)
    with store.database.transaction() as session:  # as an upgrade finds it: no counters
        session.execute("DELETE FROM metric_counters")
        for statement in filter(str.strip, _step().split(";")):
            if statement.strip().startswith("INSERT"):
                session.execute(statement)
    assert _counts(store) == pytest.approx(live)


def test_the_fill_buckets_as_the_transactions_do() -> None:
    for family, bounds in (("upload_to_post", UPLOAD_TO_POST_BUCKETS),
                           ("post_to_finish", POST_TO_FINISH_BUCKETS)):
        for bound in bounds:
            assert f"('{family}', '{bucket_label(bounds, bound)}', {bound:g})" in _step()


def test_a_rolled_back_change_counts_nothing(store: Store) -> None:
    def receive_then_fail() -> None:
        with store.transaction() as txn:
            txn.record_upload("alpha", "users.csv", 10, "0" * 64)
            raise RuntimeError("the commit never comes")

    with pytest.raises(RuntimeError):
        receive_then_fail()
    assert _counts(store) == {}


def test_racing_writers_lose_no_count(store: Store) -> None:
    def receive() -> None:
        for _ in range(25):
            with store.transaction() as txn:
                txn.record_upload("alpha", "users.csv", 3, "0" * 64)

    threads = [threading.Thread(target=receive) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = _counts(store)
    assert (counts[("uploads", "alpha", "", "")],
            counts[("upload_bytes", "alpha", "", "")]) == (100, 300)


def test_an_observation_counts_in_the_lowest_bucket_it_fits() -> None:
    bounds = (5.0, 15.0)
    assert [bucket_label(bounds, s) for s in (0, 5, 5.5, 15, 16)] == [
        "5.0", "5.0", "15.0", "15.0", "+Inf"]
