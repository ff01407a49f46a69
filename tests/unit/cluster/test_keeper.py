"""The lease keeper on both backends: live nodes share the institutions, a silent node's
leases go to the others after they expire, a joining node is handed its share, and an
orderly stop hands everything over at once."""

from __future__ import annotations

import time

from gateway.cluster.assignment import share
from gateway.cluster.keeper import LeaseKeeper
from gateway.state.leases import LeaseBook, LeaseTable
from gateway.state.store import Store

INSTITUTIONS = [f"inst{n:02d}" for n in range(12)]


def keeper(store: Store, node: str, lease_seconds: float = 60.0,
           taken: list[str] | None = None) -> tuple[LeaseKeeper, LeaseBook]:
    book = LeaseBook(node)
    made = LeaseKeeper(table=LeaseTable(store.database), book=book,
                       lease_seconds=lease_seconds, institutions=lambda: INSTITUTIONS,
                       on_acquired=(taken.append if taken is not None else lambda _: None))
    return made, book


def test_one_node_takes_everything_and_recovers_each_once(store: Store) -> None:
    taken: list[str] = []
    alone, book = keeper(store, "a", taken=taken)
    alone.step()
    alone.step()
    assert set(book.held()) == set(INSTITUTIONS)
    assert sorted(taken) == INSTITUTIONS  # renewals run no recovery


def test_a_joining_node_is_handed_its_share(store: Store) -> None:
    first, book_a = keeper(store, "a")
    first.step()
    second, book_b = keeper(store, "b")
    second.step()  # b is live now; a still holds everything
    assert book_b.held() == {}
    first.step()  # a sees b and hands b's share over
    second.step()
    assert set(book_b.held()) == share(INSTITUTIONS, ["a", "b"], "b") != set()
    assert set(book_a.held()) == set(INSTITUTIONS) - set(book_b.held())
    assert all(epoch == 2 for epoch in book_b.held().values())


def test_a_silent_node_s_institutions_are_taken_over_after_its_lease(store: Store) -> None:
    dying, book_a = keeper(store, "a", lease_seconds=1.0)
    survivor, book_b = keeper(store, "b", lease_seconds=1.0)
    dying.step()
    survivor.step()
    dying.step()
    survivor.step()
    assert book_a.held()
    assert book_b.held()
    started = time.monotonic()
    while set(book_b.held()) != set(INSTITUTIONS):  # a is SIGKILLed: it never steps again
        assert time.monotonic() - started < 10.0, "no take-over"
        survivor.step()
        time.sleep(0.05)
    assert time.monotonic() - started < 1.0 + 1.0  # the lease time plus the polling


def test_an_orderly_stop_hands_everything_over_at_once(store: Store) -> None:
    leaving, book_a = keeper(store, "a")
    staying, book_b = keeper(store, "b")
    leaving.step()
    staying.step()
    leaving.step()
    leaving.resign()
    assert book_a.held() == {}
    staying.step()
    assert set(book_b.held()) == set(INSTITUTIONS)


def test_a_failed_recovery_gives_the_lease_back(store: Store) -> None:
    def refuse(name: str) -> None:
        raise RuntimeError(f"cannot recover {name}")

    book = LeaseBook("a")
    LeaseKeeper(table=LeaseTable(store.database), book=book, lease_seconds=60.0,
                institutions=lambda: ["alpha"], on_acquired=refuse).step()
    assert book.held() == {}
    [lease] = LeaseTable(store.database).leases()
    assert lease.owner is None


def test_a_round_of_slow_recoveries_stops_in_time_to_renew_what_it_holds(
        store: Store) -> None:
    # Each recovery takes 0.2 s and the lease 3 s: a round takes leases for about a third
    # of the lease time (1 s), not all twelve (2.4 s), so what it took is renewed before it
    # expires; the next rounds take the rest, and nothing taken is ever lost meanwhile.
    taken: list[str] = []

    def slow(institution: str) -> None:
        time.sleep(0.2)
        taken.append(institution)

    book = LeaseBook("a")
    slowly = LeaseKeeper(table=LeaseTable(store.database), book=book, lease_seconds=3.0,
                         institutions=lambda: INSTITUTIONS, on_acquired=slow)
    slowly.step()
    first = len(taken)
    assert 1 <= first < len(INSTITUTIONS)
    for _ in range(len(INSTITUTIONS)):
        slowly.step()
    assert set(book.held()) == set(INSTITUTIONS)
    assert sorted(taken) == INSTITUTIONS  # each taken once: none lost and taken again
