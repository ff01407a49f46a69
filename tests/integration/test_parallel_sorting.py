"""Institutions are sorted side by side: one institution's big upload, still being validated,
does not hold back another institution's small upload on its way to Canvas.

Proven by the order of events in the store's transition log, not by timing thresholds nor by
a look at the states at some moment (which races with the big validation's end): the small
institution's batch was being posted to Canvas (SUBMITTING) before the big institution's upload
was formed into a batch (RECEIVED -> ACCEPTED happens only once its validation is done).
With one sorting round for all institutions at a time (the old barrier), the small import
could only follow the big validation.  The big institution's queue is held by its operator,
so its batch is formed (sorting goes on for a held queue) but not sent: the sandbox is not
kept busy importing a million users.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.ops.cli import main
from gateway.sandbox.server import CanvasSandbox
from gateway.state.states import BatchState, UploadState
from tests.integration.conftest import SANDBOX_TOKEN
from tests.integration.gateway_process import Account, GatewayProcess, wait_for
from tests.integration.mail_server import Collector
from tests.integration.sftp_clients import openssh_put

BIG_ROWS = 1_500_000
"""About six seconds of validation here (every row on the exact path): many times what the
small institution's upload, forming and POST take, on a loaded machine too."""

pytestmark = pytest.mark.skipif((os.cpu_count() or 1) < 2,
                                reason="sorting side by side needs two cores")


@pytest.fixture
def two(tmp_path: Path, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account, beta: Account) -> Iterator[GatewayProcess]:
    process = GatewayProcess(root=tmp_path, sandbox_url=sandbox.base_url,
                             smtp_port=mailbox[1], accounts=[alpha, beta],
                             token=SANDBOX_TOKEN, quiet_seconds=0.5)
    yield process
    if process.process is not None:
        process.kill()


def _big_users(path: Path) -> Path:
    """A users.csv of ``BIG_ROWS`` rows, each with an invalid email (Canvas warns and imports
    the user): every row draws a message, so every row takes the exact (slow) path."""
    with open(path, "w", encoding="utf-8") as out:
        out.write("user_id,login_id,status,full_name,email\n")
        out.writelines(f'big{n},big{n},active,"Last{n}, First",not-an-email-{n}\n'
                       for n in range(BIG_ROWS))
    return path


def _small_zip(path: Path) -> Path:
    """A zip is a delivery of its own: it is formed without waiting for a quiet period."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("users.csv", "user_id,login_id,status\nsmall1,small1,active\n")
    return path


def _carries(payload: bytes, user_id: str) -> bool:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return any(user_id.encode() in archive.read(name) for name in archive.namelist())


def test_a_big_upload_being_validated_does_not_hold_back_another_institutions_batch(
        two: GatewayProcess, sandbox: CanvasSandbox, alpha: Account, beta: Account,
        tmp_path: Path) -> None:
    two.start()
    assert main(["hold", "alpha", "--config", str(two.config_path)]) == 0
    openssh_put(two.sftp_port, alpha, [_big_users(tmp_path / "users.csv")])
    wait_for(lambda: '"validating delivery", "institution": "alpha"' in two.logs(), 60,
             "alpha's delivery to be validated")
    openssh_put(two.sftp_port, beta, [_small_zip(tmp_path / "small.zip")])
    wait_for(lambda: any(_carries(p, "small1") for p in sandbox.payloads("1")), 60,
             "beta's import to reach Canvas")
    # ... and the big one is formed into a batch on its own (held: not sent).
    wait_for(lambda: [u.state for u in two.store().uploads(institution="alpha")]
             == [UploadState.ACCEPTED], 300, "alpha's batch")
    store = two.store()
    [small] = store.batches(institution="beta")
    [big] = store.uploads(institution="alpha")
    posting = _first_at(store.history("batch", small.id), BatchState.SUBMITTING)
    formed = _first_at(store.history("upload", big.id), UploadState.ACCEPTED)
    assert posting < formed, f"beta's POST waited for alpha's validation ({posting} >= {formed})"
    assert not any(_carries(p, "big0") for p in sandbox.payloads("1"))


def _first_at(history: list[dict[str, Any]], state: str) -> float:
    """When a record first moved to ``state``."""
    return float(next(move["at"] for move in history if move["to"] == state))
