"""The gateway on PostgreSQL: an upload reaches the sandbox Canvas with every record in the
database, a second node on the same database refuses to start, and the first stops when it
loses its lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.sandbox.server import CanvasSandbox
from gateway.state.postgres import PostgresDatabase
from gateway.state.records import BatchRecord
from gateway.state.states import BatchState
from gateway.state.store import Store
from tests.integration.conftest import SANDBOX_TOKEN
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


def test_an_upload_reaches_canvas_through_postgres_and_a_second_node_is_refused(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account, postgres: PostgresServer, postgres_url: str,
        tmp_path: Path) -> None:
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

    second_root = tmp_path / "second"
    second_root.mkdir()
    second = _clustered(GatewayProcess(root=second_root, sandbox_url=sandbox.base_url,
                                       smtp_port=mailbox[1], accounts=[alpha],
                                       token=SANDBOX_TOKEN), postgres_url, "node-b")
    second.write_config()
    refused = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(second.config_path)],
        env={**os.environ, **second.env, "TEST_CANVAS_TOKEN": SANDBOX_TOKEN},
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0
    assert "another gateway (sis-gateway node node-a from 127.0.0.1)" in refused.stderr
    assert "is already running on postgresql://gateway@127.0.0.1:" in refused.stderr
    running = gateway.process
    assert running is not None
    assert running.poll() is None  # the first node still serves

    # Its lock's session cut (a database restart would do it): it stops, as another node
    # may now take the database.
    postgres.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                   " WHERE application_name = 'sis-gateway node node-a'")
    wait_for(lambda: running.poll() is not None, 30, "node-a to stop without its lock")
    assert running.returncode == 1  # an error: restarted, it takes the lock or is refused
    assert "lost the database's node lock" in gateway.logs()
    for output in (refused.stdout, refused.stderr, gateway.logs()):
        assert PASSWORD not in output
