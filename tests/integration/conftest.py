"""Real parts for the integration tests: Canvas sandbox, SMTP server, SFTP accounts, gateway,
and the nodes of a cluster (one PostgreSQL, one SeaweedFS bucket, one sandbox)."""

from __future__ import annotations

import secrets
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.sandbox.server import CanvasSandbox
from gateway.state.leases import LeaseTable
from gateway.state.postgres import PostgresDatabase
from gateway.state.store import Store
from tests.integration.gateway_process import (
    Account,
    GatewayProcess,
    as_cluster_node,
    make_account,
    make_host_key,
)
from tests.integration.mail_server import Collector, smtp_server
from tests.s3_server import S3Server

SANDBOX_TOKEN = "test-canvas-token"
LEASE = 2.0
"""Cluster nodes' lease, seconds; short so take-overs stay quick (renewed every 0.67 s)."""

NodeMaker = Callable[[str], GatewayProcess]


@pytest.fixture
def sandbox() -> Iterator[CanvasSandbox]:
    # The errors CSV shows shortly after an import ends, as in production but quicker.
    with CanvasSandbox(accounts={"1": SANDBOX_TOKEN}, processing_seconds=0.3,
                       errors_file_delay_seconds=0.3) as running:
        yield running


@pytest.fixture
def mailbox() -> Iterator[tuple[Collector, int]]:
    collector = Collector()
    with smtp_server(collector) as port:
        yield collector, port


@pytest.fixture
def alpha(tmp_path: Path) -> Account:
    return make_account("alpha", tmp_path)


@pytest.fixture
def gateway(tmp_path: Path, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
            alpha: Account) -> Iterator[GatewayProcess]:
    process = GatewayProcess(root=tmp_path, sandbox_url=sandbox.base_url,
                             smtp_port=mailbox[1], accounts=[alpha], token=SANDBOX_TOKEN)
    yield process
    if process.process is not None:
        process.kill()
    process.close_store()


@pytest.fixture(params=["sqlite-local", "postgres-s3"])
def deployed(request: pytest.FixtureRequest,
             gateway: GatewayProcess) -> Iterator[GatewayProcess]:
    """``gateway`` (not started) as each deployment runs it: on one machine (SQLite, the
    local spool), and as the one node of a cluster (PostgreSQL, S3).  For the representative
    end-to-end and crash tests; the others run on one machine."""
    if request.param == "postgres-s3":
        as_cluster_node(gateway, database_url=request.getfixturevalue("postgres_url"),
                        objects=request.getfixturevalue("s3_server"))
    yield gateway
    if request.param == "postgres-s3":  # nothing fell back to the data volume
        assert not (gateway.data_dir / "state.db").exists()
        assert not any((gateway.data_dir / "spool" / "uploads").iterdir())


@pytest.fixture
def beta(tmp_path: Path) -> Account:
    return make_account("beta", tmp_path)


@pytest.fixture
def intake(tmp_path: Path, alpha: Account, beta: Account) -> Iterator[GatewayProcess]:
    """A gateway (not started) for SFTP intake tests: two institutions, and a quiet period
    so long that received uploads stay waiting (and visible) for the whole test.  Its
    Canvas and mail server are never reached."""
    process = GatewayProcess(root=tmp_path, sandbox_url="http://127.0.0.1:9", smtp_port=9,
                             accounts=[alpha, beta], quiet_seconds=3600)
    yield process
    if process.process is not None:
        process.kill()


@pytest.fixture
def shared(postgres_url: str) -> Iterator[tuple[Store, LeaseTable]]:
    """An unfenced view of the cluster's store (what an operator's command sees)."""
    store = Store(PostgresDatabase(postgres_url, connections=2))
    yield store, LeaseTable(store.database)
    store.close()


@pytest.fixture
def make_node(tmp_path: Path, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
              alpha: Account, beta: Account, postgres_url: str,
              s3_server: S3Server) -> Iterator[NodeMaker]:
    """Makes (does not start) nodes of one cluster; kills what still runs at the end."""
    prefix = f"cluster-{secrets.token_hex(4)}"
    made: list[GatewayProcess] = []

    def make(name: str) -> GatewayProcess:
        (tmp_path / name).mkdir()
        node = GatewayProcess(root=tmp_path / name, sandbox_url=sandbox.base_url,
                              smtp_port=mailbox[1], accounts=[alpha, beta],
                              token=SANDBOX_TOKEN,
                              host_key_file=make_host_key(tmp_path))  # one for all nodes
        node.env.update(TEST_DATABASE_URL=postgres_url, TEST_S3_KEY=s3_server.access_key,
                        TEST_S3_SECRET=s3_server.secret_key)
        node.extra_config += [
            "[cluster]", 'database_url_env = "TEST_DATABASE_URL"', f'node_name = "{name}"',
            f"lease_seconds = {LEASE}", "[cluster.objects]", f'bucket = "{s3_server.bucket}"',
            f'endpoint_url = "{s3_server.endpoint_url}"', f'prefix = "{prefix}"',
            'access_key_id_env = "TEST_S3_KEY"', 'secret_access_key_env = "TEST_S3_SECRET"']
        made.append(node)
        return node

    yield make
    for node in made:
        if node.process is not None:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGCONT)
            node.kill()
