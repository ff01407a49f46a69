"""Real parts for the integration tests: Canvas sandbox, SMTP server, SFTP accounts, gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.sandbox.server import CanvasSandbox
from tests.integration.gateway_process import (
    Account,
    GatewayProcess,
    as_cluster_node,
    make_account,
)
from tests.integration.mail_server import Collector, smtp_server

SANDBOX_TOKEN = "test-canvas-token"


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
