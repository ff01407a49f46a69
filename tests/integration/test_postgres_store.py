"""The gateway on PostgreSQL: an upload reaches the sandbox Canvas with every record in the
database (several nodes sharing one: tests/integration/test_cluster.py)."""

from __future__ import annotations

from gateway.sandbox.server import CanvasSandbox
from gateway.state.postgres import PostgresDatabase
from gateway.state.records import BatchRecord
from gateway.state.states import BatchState
from gateway.state.store import Store
from tests.integration.gateway_process import (
    REPO,
    Account,
    GatewayProcess,
    make_host_key,
    wait_for,
)
from tests.integration.mail_server import Collector
from tests.integration.sftp_clients import openssh_put
from tests.postgres import PASSWORD, PostgresServer

SAMPLES = REPO / "config" / "samples"


def _clustered(process: GatewayProcess, url: str, node: str) -> GatewayProcess:
    process.env["TEST_DATABASE_URL"] = url
    process.host_key_file = make_host_key(process.root.parent)
    process.extra_config += ["[cluster]", 'database_url_env = "TEST_DATABASE_URL"',
                             f'node_name = "{node}"']
    return process


def test_an_upload_reaches_canvas_through_postgres(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account, postgres: PostgresServer, postgres_url: str) -> None:
    _clustered(gateway, postgres_url, "node-a").start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    store = Store(PostgresDatabase(postgres_url, connections=2))
    try:
        def imported() -> list[BatchRecord]:
            return store.batches(institution="alpha", state=BatchState.IMPORTED)

        [batch] = wait_for(imported, 60, "the batch imported, as PostgreSQL records it")
        assert [u.filename for u in store.uploads(batch_id=batch.id)] == ["users.csv"]
    finally:
        store.close()
    assert not (gateway.data_dir / "state.db").exists()  # the store is the database
    logs = gateway.logs()
    assert "lease taken" in logs  # the only node: it holds every institution
    assert PASSWORD not in logs
