"""Real parts for the export tests: a sandbox whose account reports finish quickly, and a
gateway with two exports for alpha (one after each import, one on request)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.sandbox.server import CanvasSandbox
from tests.integration.conftest import SANDBOX_TOKEN
from tests.integration.gateway_process import Account, GatewayProcess
from tests.integration.sftp_clients import openssh_batch

EXPORTS = [
    "[[institutions.alpha.exports]]", 'report = "sis_export_csv"', "after_import = true",
    'csvs = ["users", "enrollments"]', "on_request = false",
    "[[institutions.alpha.exports]]", 'report = "last_user_access_csv"',
]


@pytest.fixture
def sandbox() -> Iterator[CanvasSandbox]:
    with CanvasSandbox(accounts={"1": SANDBOX_TOKEN}, processing_seconds=0.2,
                       errors_file_delay_seconds=0.2, report_seconds=0.5) as running:
        yield running


@pytest.fixture
def exporting(gateway: GatewayProcess) -> GatewayProcess:
    gateway.intake_options = {"alpha": EXPORTS}
    gateway.extra_config = ["[exports]", "poll_initial_seconds = 0.2",
                            "poll_max_seconds = 0.5", "retry_initial_seconds = 0.3",
                            "retry_max_seconds = 1.0", "reconcile_grace_seconds = 1.0"]
    return gateway


def request(gateway: GatewayProcess, account: Account, export: str) -> None:
    """Upload an empty request file for ``export`` with OpenSSH sftp."""
    empty = gateway.root / "empty-request"
    empty.write_bytes(b"")
    done = openssh_batch(gateway.sftp_port, account,
                         [f'put "{empty}" inbox/requests/{export}'])
    assert done.returncode == 0, done.stderr
