"""Leases and fencing on both backends: acquire, renew, expire, hand over; a node whose lease
is gone writes nothing, in the same transaction as the write it tried."""

from __future__ import annotations

import threading
import time

import pytest

from gateway.state.leases import LeaseBook, LeaseLost, LeaseTable
from gateway.state.states import BatchState, TransitionError
from gateway.state.store import Store

LONG = 60.0


def node_store(store: Store, node: str) -> tuple[Store, LeaseBook]:
    """A second view of ``store``'s database as node ``node``: fenced by its own book."""
    book = LeaseBook(node)
    return Store(store.database, clock=store.clock, leases=book), book


def take(table: LeaseTable, book: LeaseBook, institution: str, ttl: float = LONG) -> int:
    epoch = table.acquire(institution, book.node, ttl)
    assert epoch is not None
    book.gain(institution, epoch, time.monotonic() + LONG)  # the database alone decides
    return epoch


def expire_then_take(table: LeaseTable, institution: str, node: str) -> int:
    """Poll (with a deadline) until ``institution``'s lease has expired and ``node`` got it."""
    deadline = time.monotonic() + 5.0
    while (epoch := table.acquire(institution, node, LONG)) is None:
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.01)
    return epoch


def test_a_free_lease_is_taken_once_and_then_renewed_only_by_its_holder(store: Store) -> None:
    table = LeaseTable(store.database)
    assert table.acquire("alpha", "a", LONG) == 1
    assert table.acquire("alpha", "b", LONG) is None
    assert table.acquire("alpha", "a", LONG) is None  # held: renew, never re-acquire
    assert table.renew("a", {"alpha": 1}, LONG) == {"alpha"}
    assert table.renew("b", {"alpha": 1}, LONG) == set()
    assert table.renew("a", {"alpha": 2}, LONG) == set()  # not the epoch held
    [lease] = table.leases()
    assert (lease.institution, lease.owner, lease.epoch) == ("alpha", "a", 1)


def test_an_expired_lease_goes_to_the_next_node_with_the_next_epoch(store: Store) -> None:
    table = LeaseTable(store.database)
    assert table.acquire("alpha", "a", 0.05) == 1
    assert expire_then_take(table, "alpha", "b") == 2
    assert table.renew("a", {"alpha": 1}, LONG) == set()  # too late: b holds it


def test_a_released_lease_is_free_at_once(store: Store) -> None:
    table = LeaseTable(store.database)
    table.acquire("alpha", "a", LONG)
    assert table.release("alpha", "b", 1) is False
    assert table.release("alpha", "a", 1) is True
    assert table.acquire("alpha", "b", LONG) == 2


def test_live_nodes_are_those_with_a_recent_heartbeat(store: Store) -> None:
    table = LeaseTable(store.database)
    table.heartbeat("a")
    table.heartbeat("b")
    assert table.live_nodes(LONG) == ["a", "b"]
    assert table.live_nodes(0.0) == []  # every heartbeat is older than no time at all
    table.forget_node("a")
    assert table.live_nodes(LONG) == ["b"]


def test_the_holder_writes_for_its_institution(store: Store) -> None:
    node, book = node_store(store, "a")
    take(LeaseTable(store.database), book, "alpha")
    with node.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
    assert store.batch(batch_id).state is BatchState.READY


def test_a_node_without_the_lease_creates_nothing(store: Store) -> None:
    table = LeaseTable(store.database)
    node, book = node_store(store, "a")
    take(table, book, "alpha")
    def both() -> None:
        with node.transaction() as txn:
            txn.create_batch("alpha")  # held: lands only if the whole transaction does
            txn.create_batch("beta")

    with pytest.raises(LeaseLost, match="institution beta"):
        both()
    assert store.batches() == []


def test_a_node_whose_lease_expired_and_was_taken_cannot_move_anything(store: Store) -> None:
    table = LeaseTable(store.database)
    with store.transaction() as txn:  # unfenced: an operator's or a test's store
        batch_id = txn.create_batch("alpha")
    paused, book_a = node_store(store, "a")
    take(table, book_a, "alpha", ttl=0.05)
    # a pauses (SIGSTOP) past its lease; b takes over and moves on.
    current, book_b = node_store(store, "b")
    book_b.gain("alpha", expire_then_take(table, "alpha", "b"), time.monotonic() + LONG)
    with pytest.raises(LeaseLost), paused.transaction() as txn:
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
    with current.transaction() as txn:
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
        txn.add_notice("batch_report", "alpha", batch_id)
    with pytest.raises(LeaseLost), paused.transaction() as txn:
        txn.add_notice("batch_report", "alpha", batch_id)
    assert len(store.notices()) == 1
    assert [r["to"] for r in store.history("batch", batch_id)] == ["open", "ready"]


def test_an_expired_lease_fences_even_before_anyone_takes_it(store: Store) -> None:
    table = LeaseTable(store.database)
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
    node, book = node_store(store, "a")
    take(table, book, "alpha", ttl=0.05)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:  # not renewed: the database's clock passes it
        try:
            with node.transaction() as txn:
                txn.update("batch", batch_id, BatchState.OPEN, attempts=1)
        except LeaseLost:
            break
        # the update landed while the lease still ran: undo it and try again
        with store.transaction() as txn:
            txn.update("batch", batch_id, BatchState.OPEN, attempts=0)
    else:
        pytest.fail("an expired lease still let the node write")
    assert store.batch(batch_id).attempts == 0


def test_a_reacquired_lease_under_a_new_epoch_fences_the_old_one(store: Store) -> None:
    table = LeaseTable(store.database)
    node, book = node_store(store, "a")
    take(table, book, "alpha")
    table.release("alpha", "a", 1)
    assert table.acquire("alpha", "a", LONG) == 2  # the book still says epoch 1
    with pytest.raises(LeaseLost, match="epoch 1"), node.transaction() as txn:
        txn.create_batch("alpha")


def test_unfenced_writes_stay_open_to_every_node(store: Store) -> None:
    node, _ = node_store(store, "a")  # holds nothing: it still receives uploads
    with node.transaction() as txn:
        upload_id = txn.record_upload("alpha", "users.csv", 10, "0" * 64)
        txn.record_discard("alpha", "x.csv.part", folder=None, size=1, reason="never renamed")
    assert store.upload(upload_id).filename == "users.csv"
    with pytest.raises(TransitionError), store.transaction() as txn:  # unfenced, as before
        txn.move("batch", 999, BatchState.OPEN, BatchState.READY)


def test_a_node_clock_far_ahead_neither_expires_nor_stretches_a_lease(store: Store) -> None:
    ahead = Store(store.database, clock=lambda: time.time() + 3600.0, leases=LeaseBook("a"))
    table = LeaseTable(ahead.database)
    assert table.acquire("alpha", "a", LONG) == 1
    assert table.acquire("alpha", "b", LONG) is None  # still running by the database's clock
    assert table.renew("a", {"alpha": 1}, LONG) == {"alpha"}


def test_work_pinned_before_a_loss_cannot_land_under_the_next_epoch(store: Store) -> None:
    table = LeaseTable(store.database)
    node, book = node_store(store, "a")
    take(table, book, "alpha")
    pinned = book.acting("alpha")  # a step decided under epoch 1 ...
    table.release("alpha", "a", 1)  # ... the lease is lost, then taken again
    take(table, book, "alpha")
    outcome: list[BaseException | int] = []

    def step() -> None:  # the step runs on a worker thread, as the forwarder's do
        try:
            with pinned, node.transaction() as txn:
                outcome.append(txn.create_batch("alpha"))
        except LeaseLost as error:
            outcome.append(error)

    worker = threading.Thread(target=step)
    worker.start()
    worker.join()
    assert isinstance(outcome[0], LeaseLost)
    with book.acting("alpha"), node.transaction() as txn:  # work decided now: epoch 2
        txn.create_batch("alpha")
    assert len(store.batches()) == 1


def test_past_its_local_deadline_a_lease_is_not_held_without_asking_the_database() -> None:
    book = LeaseBook("a")
    book.gain("alpha", 3, time.monotonic() + LONG)
    book.gain("beta", 4, time.monotonic() - 0.001)  # a pause outlasted it
    assert book.holds("alpha")
    assert book.epoch("alpha") == 3
    assert not book.holds("beta")
    assert book.epoch("beta") is None
    assert book.held() == {"alpha": 3, "beta": 4}  # still the keeper's to renew or drop
    book.renewed(["beta"], time.monotonic() + LONG)
    assert book.holds("beta")
