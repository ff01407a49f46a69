"""Two gateway nodes' SFTP intakes sharing one PostgreSQL database and one bucket: a trigger
file uploaded to node A releases the delivery whose files went to node B (and node A lists
what node B received), an address banned on node A is refused on node B, and a session on
node A counts toward ``max_sessions`` on node B.

Each node is its own Intake (a real listener on loopback, its own data dir, store pool and
custody) driven by real OpenSSH and paramiko clients; node B's sorter forms the batch.  They
run in this process: until institutions are leased to nodes, a second `gateway serve` on the
same database refuses to start (tests/integration/test_postgres_store.py).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import paramiko
import pytest

from gateway.institutions import Institution
from gateway.intake.config import IntakeOptions, SftpSettings
from gateway.intake.service import Intake
from gateway.sorting.sorter import Sorter
from gateway.state.postgres import PostgresDatabase
from gateway.state.s3_custody import S3Custody
from gateway.state.spool import Spool
from gateway.state.states import UploadState
from gateway.state.store import Store
from tests.institution_records import institution
from tests.integration.gateway_process import REPO, Account
from tests.integration.mail_server import free_port
from tests.integration.sftp_clients import openssh_batch, openssh_put, paramiko_transport
from tests.s3_server import S3Server

SAMPLES = REPO / "config" / "samples"
T = TypeVar("T")
BANNED = "127.0.0.5"  # any 127/8 source is loopback: the clients' own 127.0.0.1 stays free


@dataclass
class Node:
    """One node: its store, custody, intake and port."""

    store: Store
    custody: S3Custody
    intake: Intake
    port: int


class Cluster:
    """Two intakes on one event loop thread, sharing the database and the bucket."""

    def __init__(self, url: str, server: S3Server, root: Path, alpha: Institution) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.alpha = alpha
        prefix = f"test-{secrets.token_hex(6)}"
        self.nodes = [self._node(url, server, root / name, name, prefix)
                      for name in ("node-a", "node-b")]

    def _node(self, url: str, server: S3Server, root: Path, name: str, prefix: str) -> Node:
        spool = Spool(root)
        spool.create(["alpha"])
        store = Store(PostgresDatabase(url, connections=6))
        custody = S3Custody(server.client(), bucket=server.bucket, prefix=prefix,
                            scratch=root / "scratch",
                            secrets_to_hide=(server.access_key, server.secret_key))
        settings = SftpSettings(host="127.0.0.1", port=free_port(), ban_failures=2,
                                ban_seconds=600, max_auth_tries=6)

        async def made() -> Intake:
            return Intake(settings, spool=spool, store=store, custody=custody,
                          institutions={"alpha": self.alpha}, on_received=lambda: None,
                          node=name)

        intake = self._run(made())
        return Node(store, custody, intake, self._run(intake.start()))

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(60)

    def close(self) -> None:
        for node in self.nodes:
            self._run(node.intake.stop())
            node.store.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()


@pytest.fixture
def options() -> IntakeOptions:
    """Alpha's intake options (a test may override this fixture)."""
    return IntakeOptions(trigger_files=("READY",))


@pytest.fixture
def cluster(postgres_url: str, s3_server: S3Server, tmp_path: Path, alpha: Account,
            options: IntakeOptions) -> Iterator[Cluster]:
    key = asyncssh.import_public_key(alpha.public_key)
    record = institution("alpha", authorized_keys=(key,), intake=options)
    running = Cluster(postgres_url, s3_server, tmp_path / "nodes", record)
    yield running
    running.close()


def test_a_trigger_on_node_a_releases_what_node_b_received(cluster: Cluster, alpha: Account,
                                                           tmp_path: Path) -> None:
    node_a, node_b = cluster.nodes
    openssh_put(node_b.port, alpha, [SAMPLES / "users.csv"])
    [upload] = node_b.store.uploads(institution="alpha")
    sorter = Sorter(store=node_b.store, custody=node_b.custody,
                    institutions=lambda: {"alpha": cluster.alpha}, quiet_seconds=0,
                    on_ready=lambda: None, intake=node_b.intake.deliveries)
    try:
        sorter.run_round()
        assert node_b.store.batches() == []  # no trigger yet: the delivery waits
        trigger = tmp_path / "READY"
        trigger.write_bytes(b"")
        openssh_put(node_a.port, alpha, [trigger])
        assert node_b.intake.deliveries.released_through("alpha") == upload.id
        assert sorter.run_round()
    finally:
        sorter.close()
    [batch] = node_b.store.batches()
    assert node_b.store.upload(upload.id).state is UploadState.ACCEPTED
    assert node_b.store.upload(upload.id).batch_id == batch.id
    # What node B received is listed on node A too (the inbox reads the store).
    listed = openssh_batch(node_a.port, alpha, ["ls -l inbox"])
    assert listed.returncode == 0, listed.stderr
    assert "users.csv" in listed.stdout


def _refused(port: int) -> bool:
    try:
        paramiko_transport(port, BANNED).close()
    except (paramiko.SSHException, EOFError, OSError):
        return True
    return False


def test_an_address_banned_on_node_a_is_refused_on_node_b(cluster: Cluster,
                                                          alpha: Account) -> None:
    node_a, node_b = cluster.nodes
    assert not _refused(node_b.port)  # B lets the address in before the ban
    for guess in range(2):
        transport = paramiko_transport(node_a.port, BANNED)
        try:
            with pytest.raises(paramiko.SSHException):
                transport.auth_password("alpha", f"guess-{guess}")
        finally:
            transport.close()
    assert _refused(node_a.port)
    deadline = time.monotonic() + 15
    while not _refused(node_b.port):
        assert time.monotonic() < deadline, "node B never learned node A's ban"
        time.sleep(0.1)
    listed = openssh_batch(node_b.port, alpha, ["ls inbox"])  # 127.0.0.1: not banned
    assert listed.returncode == 0, listed.stderr


@pytest.mark.parametrize("options", [IntakeOptions(max_sessions=1)])
def test_max_sessions_counts_the_sessions_on_every_node(cluster: Cluster,
                                                        alpha: Account) -> None:
    node_a, node_b = cluster.nodes
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=node_a.port, username=alpha.name,
                   key_filename=str(alpha.key_file), look_for_keys=False, allow_agent=False,
                   timeout=15)
    try:
        sftp = client.open_sftp()
        refused = openssh_batch(node_b.port, alpha, ["ls inbox"])
        assert refused.returncode != 0
        assert "max_sessions" in refused.stderr
        assert sftp.listdir("inbox") == []  # the session on node A is unharmed
    finally:
        client.close()
    deadline = time.monotonic() + 15
    while openssh_batch(node_b.port, alpha, ["ls inbox"]).returncode != 0:
        assert time.monotonic() < deadline, "node A's session was never uncounted"
        time.sleep(0.2)
