"""Shared fixtures: a data dir's spool, a store on a hand-moved clock on each backend
(SQLite, and PostgreSQL on a real server started once per session: tests/postgres.py), and
the payload custody and the shelf on both backends (the local spool and SFTP homes, and a
real S3 server)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest

from gateway.state.custodies import build_shelf
from gateway.state.custody import Custody
from gateway.state.database import Database
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


DatabaseOpener = Callable[[], Path | Database]


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> DatabaseOpener:
    """Opens this test's database, which starts with no schema at all, on each backend (for
    tests of schema steps run on a store that holds records): ``state.db`` in ``tmp_path``, or
    a new PostgreSQL database.  Every call opens the same one; give it to ``Store``."""
    if request.param == "sqlite":
        return lambda: tmp_path / "state.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.empty_database()
    return lambda: PostgresDatabase(url, connections=2)


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


@pytest.fixture
def paired_custody(request: pytest.FixtureRequest, make_store: StoreMaker,
                   spool: Spool) -> Custody:
    """The custody a deployment keeps beside this test's store: the local spool beside
    SQLite, the bucket beside PostgreSQL (cluster mode).  For the long tests that run once
    per deployment rather than once per pair of backends."""
    if request.node.callspec.params["make_store"] == "sqlite":
        return LocalCustody(spool)
    server: S3Server = request.getfixturevalue("s3_server")
    return s3_custody(server, spool.root / "scratch")


@pytest.fixture
def commands_store(request: pytest.FixtureRequest, store: Store, spool: Spool,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """``store``, with the environment that points the ``gateway`` commands this test runs
    in-process (``main([..., "--data", spool.root])``) at it: the data dir's ``state.db`` on
    SQLite; on PostgreSQL, ``[cluster]`` set by ``GATEWAY_...`` variables, as an operator
    would (with the shared host key a cluster node must name)."""
    if isinstance(store.database, PostgresDatabase):
        host_key = spool.root / "ssh_host_ed25519_key"
        host_key.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
        monkeypatch.setenv("TEST_DATABASE_URL", request.getfixturevalue("postgres_url"))
        monkeypatch.setenv("GATEWAY_CLUSTER__DATABASE_URL_ENV", "TEST_DATABASE_URL")
        monkeypatch.setenv("GATEWAY_SFTP__HOST_KEY_FILES", json.dumps([str(host_key)]))
    yield store
    if isinstance(store.database, PostgresDatabase):  # no command fell back to SQLite
        assert not spool.database.exists(), "a command opened state.db, not PostgreSQL"


@pytest.fixture
def commands_custody(request: pytest.FixtureRequest, custody: Custody,
                     monkeypatch: pytest.MonkeyPatch) -> Custody:
    """``custody``, with the environment that points the ``gateway`` commands this test runs
    in-process at it: the data dir's spool, or ``[cluster.objects]`` (this test's prefix in
    the test bucket) set by ``GATEWAY_...`` variables."""
    if isinstance(custody, S3Custody):
        server: S3Server = request.getfixturevalue("s3_server")
        prefix = custody.place.removeprefix(f"s3://{server.bucket}/").strip("/")
        variables = {"BUCKET": server.bucket, "ENDPOINT_URL": server.endpoint_url,
                     "PREFIX": prefix, "ACCESS_KEY_ID_ENV": "TEST_S3_KEY",
                     "SECRET_ACCESS_KEY_ENV": "TEST_S3_SECRET"}
        for key, value in variables.items():
            monkeypatch.setenv(f"GATEWAY_CLUSTER__OBJECTS__{key}", value)
        monkeypatch.setenv("TEST_S3_KEY", server.access_key)
        monkeypatch.setenv("TEST_S3_SECRET", server.secret_key)
    return custody
