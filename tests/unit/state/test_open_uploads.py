"""The ``open_uploads`` rows (both backends): each node sees the others' open uploads until
they end or expire, never its own, and a restarted node forgets what it left."""

from __future__ import annotations

from gateway.state.open_uploads import InFlight
from gateway.state.store import Store
from tests.unit.history import Clock


def test_a_node_sees_the_others_open_uploads_until_they_end_or_expire(
        store: Store, clock: Clock) -> None:
    node_a, node_b = store.intake.open_uploads("a"), store.intake.open_uploads("b")
    node_a.add("t1", "alpha", expires_at=clock.now + 30)
    node_a.add("t2", "alpha", expires_at=clock.now + 30)
    node_b.add("t3", "beta", expires_at=clock.now + 30)
    assert node_b.elsewhere("alpha", clock.now) == InFlight(2, 0)
    assert node_a.elsewhere("alpha", clock.now) == InFlight()  # its own are counted in memory
    node_a.refresh([("t1", 700), ("t2", 300)], expires_at=clock.now + 60, now=clock.now)
    assert node_b.elsewhere("alpha", clock.now) == InFlight(2, 1000)
    node_a.remove("t2")
    assert node_b.elsewhere("alpha", clock.now) == InFlight(1, 700)
    clock.now += 61  # node a stopped refreshing: its rows stop counting, then go
    assert node_b.elsewhere("alpha", clock.now) == InFlight()
    node_b.refresh([], expires_at=clock.now + 30, now=clock.now)
    assert store.database.rows("SELECT node, token FROM open_uploads") == []


def test_a_restarted_node_forgets_its_rows_only(store: Store, clock: Clock) -> None:
    node_a, node_b = store.intake.open_uploads("a"), store.intake.open_uploads("b")
    node_a.add("t1", "alpha", expires_at=clock.now + 30)
    node_b.add("t2", "alpha", expires_at=clock.now + 30)
    store.intake.open_uploads("a").forget_node()
    assert node_a.elsewhere("alpha", clock.now) == InFlight(1, 0)
    assert node_b.elsewhere("alpha", clock.now) == InFlight()
