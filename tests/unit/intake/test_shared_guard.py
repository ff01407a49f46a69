"""Bans and max_sessions shared by two nodes on one store (both backends)."""

from __future__ import annotations

import pytest

from gateway.intake.bans import BanPolicy, networks
from gateway.intake.shared_guard import SharedBans, SharedSessions
from gateway.state.database import StoreUnavailable
from gateway.state.postgres import PostgresDatabase
from gateway.state.store import Store
from tests.postgres import PostgresServer
from tests.unit.history import Clock

POLICY = BanPolicy(failures=3, window=60, ban=300, ban_max=3600,
                   safelist=networks(["198.51.100.0/24"]))


def _bans(store: Store, node: str, clock: Clock) -> SharedBans:
    return SharedBans(store.intake.guard(node), POLICY, clock=clock)


def test_failures_on_two_nodes_ban_once_and_the_ban_holds_on_both(store: Store,
                                                                   clock: Clock) -> None:
    node_a, node_b = _bans(store, "a", clock), _bans(store, "b", clock)
    assert node_a.failed("192.0.2.7") == 0
    assert node_a.failed("192.0.2.7") == 0
    node_a.sync()
    node_b.sync()
    assert node_b.failed("192.0.2.7") == 300  # the third failure, on the other node
    assert node_b.banned_for("192.0.2.7") == 300
    assert node_a.banned_for("192.0.2.7") == 0  # not yet exchanged
    node_b.sync()
    node_a.sync()
    assert node_a.banned_for("192.0.2.7") == 300
    assert node_a.banned_for("192.0.2.8") == 0
    clock.now += 301
    node_a.sync()
    assert node_a.banned_for("192.0.2.7") == 0


def test_a_safelisted_address_is_never_banned_or_shared(store: Store, clock: Clock) -> None:
    node_a = _bans(store, "a", clock)
    for _ in range(5):
        assert node_a.failed("198.51.100.9") == 0
    node_a.sync()
    assert store.database.rows("SELECT count(*) FROM login_failures")[0][0] == 0


def test_max_sessions_counts_every_nodes_sessions(store: Store, clock: Clock) -> None:
    node_a = SharedSessions(store.intake.guard("a"), clock=clock)
    node_b = SharedSessions(store.intake.guard("b"), clock=clock)
    assert node_a.enter("alpha", 2)
    assert node_b.enter("alpha", 2)
    assert not node_a.enter("alpha", 2)
    node_b.leave("alpha")
    assert node_a.enter("alpha", 2)
    node_b.leave("alpha")  # nothing of b's is left: no-op
    assert not node_b.enter("alpha", 2)


def test_a_session_the_store_cannot_count_says_so(postgres: PostgresServer,
                                                  postgres_url: str) -> None:
    store = Store(PostgresDatabase(postgres_url, connections=2, wait_seconds=1))
    try:
        sessions = SharedSessions(store.intake.guard("a"))
        assert sessions.enter("alpha", 2)
        name = postgres_url.rsplit("/", 1)[1]
        postgres.admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        postgres.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       f" WHERE datname = '{name}'")
        with pytest.raises(StoreUnavailable):
            sessions.enter("alpha", 2)
    finally:
        store.close()
