"""The shared login tables (both backends): failures and bans every node reads back, live
sessions counted across nodes, everything gone once expired."""

from __future__ import annotations

from gateway.state.guard_rows import Ban
from gateway.state.store import Store
from tests.unit.history import Clock

WINDOW = 60.0


def test_failures_and_bans_are_read_back_by_the_other_nodes_until_they_expire(
        store: Store, clock: Clock) -> None:
    node_a, node_b = store.intake.guard("a"), store.intake.guard("b")
    now = clock.now
    node_a.exchange([("192.0.2.7", now), ("192.0.2.7", now), ("192.0.2.8", now)], [],
                    now=now, window=WINDOW)
    seen = node_b.exchange([], [], now=now, window=WINDOW)
    assert seen.failures == {"192.0.2.7": 2, "192.0.2.8": 1}
    assert seen.bans == {}
    assert node_a.exchange([], [], now=now, window=WINDOW).failures == {}  # not its own
    node_a.exchange([], [Ban("192.0.2.7", now + 300, 1)], now=now, window=WINDOW)
    seen = node_b.exchange([], [], now=now + 1, window=WINDOW)
    assert seen.bans == {"192.0.2.7": now + 300}
    assert seen.failures == {"192.0.2.8": 1}  # the banned address's failures are spent
    node_b.exchange([], [Ban("192.0.2.7", now + 100, 1)], now=now + 1, window=WINDOW)
    assert node_a.exchange([], [], now=now + 2, window=WINDOW).bans == {
        "192.0.2.7": now + 300}  # a shorter ban never shortens a longer one
    later = node_b.exchange([], [], now=now + 301, window=WINDOW)
    assert later.bans == {}
    assert later.failures == {}
    assert store.database.rows("SELECT count(*) FROM login_failures")[0][0] == 0
    assert store.database.rows("SELECT count(*) FROM address_bans")[0][0] == 0


def test_sessions_are_counted_across_nodes_until_they_end_or_expire(
        store: Store, clock: Clock) -> None:
    node_a, node_b = store.intake.guard("a"), store.intake.guard("b")
    now = clock.now
    assert node_a.enter("s1", "alpha", 2, now=now, expires_at=now + 30)
    assert node_b.enter("s2", "alpha", 2, now=now, expires_at=now + 30)
    assert not node_b.enter("s3", "alpha", 2, now=now, expires_at=now + 30)
    assert node_b.enter("s3", "beta", 2, now=now, expires_at=now + 30)
    node_a.leave("s1")
    assert node_b.enter("s4", "alpha", 2, now=now, expires_at=now + 30)
    node_b.keep_alive(now=now + 20, expires_at=now + 50)
    assert not node_a.enter("s5", "alpha", 2, now=now + 40, expires_at=now + 70)
    node_a.keep_alive(now=now + 51, expires_at=now + 81)  # b stopped refreshing: expired
    assert node_a.enter("s5", "alpha", 2, now=now + 51, expires_at=now + 81)
    node_a.forget_node()
    assert store.database.rows("SELECT count(*) FROM live_sessions")[0][0] == 0
