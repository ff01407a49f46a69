"""Shared fixtures: a data dir's spool, and a store on a hand-moved clock on each backend
(SQLite, and PostgreSQL on a real server started once per session: tests/postgres.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.state.postgres import PostgresDatabase
from gateway.state.spool import Spool
from gateway.state.store import Store
from tests.postgres import PostgresServer, running_server
from tests.unit.history import Clock

INSTITUTIONS = ["alpha", "beta", "gamma"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path)
    spool.create(INSTITUTIONS)
    return spool


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (started on first use)."""
    yield from running_server()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """The URL of a fresh, migrated database of its own."""
    return postgres.fresh_database()


StoreMaker = Callable[[Callable[[], float]], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    """Opens this test's store on each backend (SQLite's ``state.db`` in ``tmp_path``, or a
    fresh PostgreSQL database), with the clock given; every call opens the same one."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    opened: list[Store] = []

    def make(clock: Callable[[], float]) -> Store:
        database = (tmp_path / "state.db" if url is None
                    else PostgresDatabase(url, connections=4))
        opened.append(Store(database, clock=clock))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreMaker, spool: Spool, clock: Clock) -> Store:
    """A store on each backend (on SQLite, the spool's ``state.db``: both in tmp_path)."""
    return make_store(clock)


@pytest.fixture
def sqlite_store(spool: Spool, clock: Clock) -> Store:
    """A store on SQLite only, for tests of SQLite's own behaviour."""
    return Store(spool.database, clock=clock)
