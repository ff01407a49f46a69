"""Shared fixtures: a data dir's spool, a store on a hand-moved clock on each backend
(SQLite, and PostgreSQL on a real server started once per session: tests/postgres.py), and
the payload custody and the shelf on both backends (the local spool and SFTP homes, and a
real S3 server)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.state.custodies import build_shelf
from gateway.state.custody import Custody
from gateway.state.local_custody import LocalCustody
from gateway.state.postgres import PostgresDatabase
from gateway.state.s3_custody import S3Custody
from gateway.state.shelf import Shelf
from gateway.state.spool import Spool
from gateway.state.store import Store
from tests.postgres import PostgresServer, running_server
from tests.s3_server import S3Server, running_s3_server
from tests.unit.history import Clock

INSTITUTIONS = ["alpha", "beta", "gamma"]
CUSTODIES = ["local", "s3"]


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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS S3 server for the whole session (about 5 s to start)."""
    with running_s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def s3_custody(server: S3Server, scratch: Path, **options: int) -> S3Custody:
    """A custody in the test bucket under a prefix of its own (tests do not see each
    other's objects)."""
    return S3Custody(server.client(), bucket=server.bucket,
                     prefix=f"test-{secrets.token_hex(6)}", scratch=scratch,
                     secrets_to_hide=(server.access_key, server.secret_key), **options)


@pytest.fixture(params=CUSTODIES)
def custody(request: pytest.FixtureRequest, spool: Spool) -> Custody:
    """The payload custody, once per backend."""
    if request.param == "local":
        return LocalCustody(spool)
    server: S3Server = request.getfixturevalue("s3_server")
    return s3_custody(server, spool.root / "scratch")


@pytest.fixture
def shelf(custody: Custody, spool: Spool) -> Shelf:
    """What institutions read, once per backend: the SFTP homes, and a real S3 server
    (each test its own prefix, through the custody fixture)."""
    return build_shelf(spool, custody)
