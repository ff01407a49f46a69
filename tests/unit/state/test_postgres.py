"""What only the PostgreSQL adapter does: migrate once under racing starts, end transactions
left idle (a paused node's), and never show the database password."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from gateway.state import schema
from gateway.state.database import StoreUnavailable
from gateway.state.leases import LeaseTable
from gateway.state.postgres import PostgresDatabase, describe_url, schema_statement
from gateway.state.store import Store
from gateway.web.health import Health
from tests.postgres import PASSWORD, PostgresServer


def test_nodes_starting_together_on_an_empty_database_migrate_it_once(
        postgres: PostgresServer) -> None:
    postgres.admin("CREATE DATABASE racing_start")
    url = postgres.url("racing_start")
    barrier = threading.Barrier(3)
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            Store(PostgresDatabase(url, connections=2)).close()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (len(schema.MIGRATIONS),)]



def test_a_sql_ascii_database_gives_text_as_text(postgres: PostgresServer) -> None:
    """initdb where no UTF-8 locale is set (a slim container) makes SQL_ASCII databases, for
    which psycopg returns bytes: a node named b'node-a' was never among the live nodes, so
    no lease was ever taken (found running docker/compose.cluster.yaml)."""
    postgres.admin("CREATE DATABASE plain_ascii TEMPLATE template0 ENCODING 'SQL_ASCII'"
                   " LC_COLLATE 'C' LC_CTYPE 'C'")
    store = Store(PostgresDatabase(postgres.url("plain_ascii"), connections=1))
    try:
        leases = LeaseTable(store.database)
        leases.heartbeat("node-a")
        assert leases.live_nodes(60) == ["node-a"]
        assert leases.acquire("demo", "node-a", 60) == 1
        assert [(lease.institution, lease.owner) for lease in leases.leases()] == [
            ("demo", "node-a")]
    finally:
        store.close()

def test_a_wrong_password_or_a_bad_url_is_refused_without_showing_it(
        postgres: PostgresServer) -> None:
    wrong = postgres.url().replace(PASSWORD, "wrong-" + PASSWORD)
    with pytest.raises(StoreUnavailable) as refused:
        PostgresDatabase(wrong, connections=1)
    assert PASSWORD not in str(refused.value)
    assert f"postgresql://gateway@127.0.0.1:{postgres.port}/postgres" in str(refused.value)
    assert "password authentication failed" in str(refused.value)
    with pytest.raises(StoreUnavailable, match="cannot be parsed") as unparsed:
        describe_url(f"host=127.0.0.1 password={PASSWORD} port")
    assert PASSWORD not in str(unparsed.value)


@pytest.mark.parametrize("password", ["Zq9/Wx7", "Sup3r@Secret", "Kq?7Ty", "Mn#4Rv"])
def test_a_password_libpq_would_misread_is_refused_without_echoing_it(password: str) -> None:
    # Unencoded, libpq reads part of it as the host or database and repeats it in errors.
    with pytest.raises(StoreUnavailable, match="percent-encode it") as refused:
        describe_url(f"postgresql://gw:{password}@db.example.edu:5432/gateway")
    assert password not in str(refused.value)
    for part in password.replace("@", "/").replace("?", "/").replace("#", "/").split("/"):
        assert part not in str(refused.value)


def test_an_encoded_password_is_described_without_it() -> None:
    assert describe_url("postgresql://gw:pa%2Fss%40x@db.example.edu:5432/gateway") == \
        "postgresql://gw@db.example.edu:5432/gateway"


def test_a_lost_connection_makes_the_store_unavailable_and_the_probe_fail(
        postgres: PostgresServer, postgres_url: str, tmp_path: Path) -> None:
    store = Store(PostgresDatabase(postgres_url, connections=1, wait_seconds=1))
    health = Health(store, tmp_path, floor_bytes=0)
    assert [p.ok for p in health.ready() if p.name == "store"] == [True]
    name = postgres_url.rsplit("/", 1)[1]
    postgres.admin(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
    postgres.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                   f" WHERE datname = '{name}'")
    [probe] = [p for p in health.ready() if p.name == "store"]
    assert not probe.ok
    assert "postgresql://gateway@127.0.0.1" in probe.detail
    assert PASSWORD not in probe.detail
    with pytest.raises(StoreUnavailable):
        store.batches()
    store.close()


def test_schema_steps_get_postgres_column_types() -> None:
    assert schema_statement("id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,"
                            " n INTEGER") == ("id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION"
                                              " NOT NULL, n BIGINT")


def test_a_transaction_left_idle_past_its_limit_is_ended_and_its_locks_freed(
        postgres_url: str) -> None:
    paused = PostgresDatabase(postgres_url, connections=1, idle_transaction_seconds=0.2)
    other = Store(PostgresDatabase(postgres_url, connections=1))
    LeaseTable(other.database).acquire("alpha", "node-a", 60.0)
    locked, resumed = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def pause_inside_a_transaction() -> None:  # a node SIGSTOPped mid-transaction
        try:
            with paused.transaction() as session:
                session.execute("SELECT 1 FROM leases WHERE institution = ? FOR SHARE",
                                ("alpha",))
                locked.set()
                resumed.wait(30)
                session.execute("UPDATE leases SET epoch = 99")
        except StoreUnavailable as error:
            outcome.append(error)

    worker = threading.Thread(target=pause_inside_a_transaction)
    worker.start()
    try:
        assert locked.wait(30)
        # Blocks on the share lock until the server ends the idle transaction.
        assert LeaseTable(other.database).release("alpha", "node-a", 1)
    finally:
        resumed.set()
        worker.join()
        paused.close()
    assert len(outcome) == 1  # its write after the pause failed
    assert [lease.epoch for lease in LeaseTable(other.database).leases()] == [1]
    other.close()


def test_another_node_hears_of_an_upload_when_its_record_commits(postgres_url: str) -> None:
    store = Store(PostgresDatabase(postgres_url, connections=2))
    database = store.database
    assert isinstance(database, PostgresDatabase)
    heard: list[str] = []
    listener = database.listen(heard.append)
    try:
        assert listener.listening.wait(10)
        def rolled_back() -> None:
            with store.transaction() as txn:
                txn.record_upload("beta", "rolled-back.csv", 1, "0" * 64)
                raise RuntimeError("the record never commits")

        with pytest.raises(RuntimeError):
            rolled_back()
        with store.transaction() as txn:
            txn.record_upload("alpha", "users.csv", 1, "0" * 64)
            assert heard == []  # not before the commit
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            time.sleep(0.01)
        assert heard == ["upload:alpha"]  # and never the rolled-back one
    finally:
        listener.close()
        store.close()
