"""The status rows (the status page asks every few seconds, status.json after each change)
against the length of the history: each institution's latest success and latest upload are
index lookups, so the read does not grow with the imports behind them."""

from __future__ import annotations

import pytest

from gateway.ops.status import status_rows
from gateway.state.states import BatchState
from gateway.state.store import Store
from tests.sqlite_steps import vm_steps
from tests.unit.history import Clock, many_imports

INSTITUTIONS = ["alpha", "beta", "gamma"]


def _imports(store: Store, clock: Clock, count: int, *, filename: str = "users.csv") -> None:
    """``count`` imported batches per institution, later than the ones before."""
    clock.now += 60
    many_imports(store, INSTITUTIONS, count, posted_at=clock.now, finished_at=clock.now,
                 filename=filename)


def test_the_rows_show_each_institutions_latest_success_and_upload(store: Store,
                                                                   clock: Clock) -> None:
    _imports(store, clock, 3)
    _imports(store, clock, 1, filename="courses.csv")
    with store.transaction() as txn:
        waiting = txn.record_upload("beta", "enrollments.csv", 10, "0" * 64)
    rows = {row["institution"]: row for row in status_rows(store, INSTITUTIONS)}
    assert rows["alpha"]["last_upload"]["file"] == "courses.csv"
    assert rows["beta"]["last_upload"]["file"] == "enrollments.csv"
    latest = {b.institution: b for b in store.batches() if b.state is BatchState.IMPORTED}
    assert rows["gamma"]["last_success"]["batch"] == latest["gamma"].id
    assert rows["beta"]["oldest_waiting"]["upload"] == waiting
    [only] = status_rows(store, ["alpha"], only="alpha")
    assert only == rows["alpha"]


@pytest.mark.parametrize("make_store", ["sqlite"], indirect=True)
def test_the_rows_read_as_much_with_a_long_history_as_with_a_short_one(
        store: Store, clock: Clock) -> None:
    _imports(store, clock, 5)
    few = vm_steps(store, lambda: status_rows(store, INSTITUTIONS))
    history_read = vm_steps(store, store.batches)
    _imports(store, clock, 500)
    many = vm_steps(store, lambda: status_rows(store, INSTITUTIONS))
    assert vm_steps(store, store.batches) > 50 * history_read  # the count sees history
    assert many <= few * 1.2  # a deeper index, not more rows
