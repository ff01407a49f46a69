"""Cluster mode at scale: many institutions over 1, 2 and 3 gateway nodes.

    python bench/cluster.py [--institutions 500] [--nodes 1,2,3] [--concurrency 16]

For each node count, starts that many gateway processes sharing one PostgreSQL (Debian's
``initdb``/``pg_ctl``, as the tests start it), one SeaweedFS bucket and one Canvas sandbox,
with ``--institutions`` institutions (each its own SFTP login and Canvas account), waits until
the institutions are leased out over the nodes, then uploads one users CSV per institution
over SFTP (asyncssh clients, ``--concurrency`` at a time, spread round-robin over the
nodes, as a TCP load balancer would) and waits until every upload has been posted to Canvas.

Prints per node count: uploads/s (first open to last acknowledged close), and the close to
POST latency of the uploads (the batch's ``posted_at`` minus the upload's ``received_at``):
median, 95th percentile and maximum; and the count of uploads not posted exactly once.
The quiet period is 0.5 s, so it is part of every latency; every client comes from
127.0.0.1, so the per-address cap on logins in progress is lifted.  The machine may be shared and
every node runs on it: compare node counts within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.sandbox.server import CanvasSandbox
from gateway.state.leases import LeaseTable
from gateway.state.postgres import PostgresDatabase
from gateway.state.store import Store
from tests.integration.gateway_process import (
    Account,
    GatewayProcess,
    make_account,
    make_host_key,
    wait_for,
)
from tests.integration.mail_server import Collector, smtp_server
from tests.postgres import PostgresServer, running_server
from tests.s3_server import S3Server, running_s3_server

TOKEN = "bench-canvas-token"  # noqa: S105 - the sandbox's, made up for the run
LEASE_SECONDS = 5.0
CHEAP_HASHES = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""Logins here are by key; the password hashes only have to exist."""


def node_config(name: str, postgres_url: str, s3: S3Server, prefix: str) -> list[str]:
    """The ``[cluster]`` lines of one node."""
    del postgres_url  # passed by environment: a secret never goes into the file
    return ["[cluster]", 'database_url_env = "BENCH_DATABASE_URL"', f'node_name = "{name}"',
            f"lease_seconds = {LEASE_SECONDS}", "[cluster.objects]",
            f'bucket = "{s3.bucket}"', f'endpoint_url = "{s3.endpoint_url}"',
            f'prefix = "{prefix}"', 'access_key_id_env = "BENCH_S3_KEY"',
            'secret_access_key_env = "BENCH_S3_SECRET"']


@dataclass(frozen=True)
class Parts:
    """What every node count's cluster shares: Canvas, the mail server, PostgreSQL, S3."""

    sandbox: CanvasSandbox
    smtp_port: int
    postgres: PostgresServer
    s3: S3Server


@contextmanager
def cluster(root: Path, count: int, accounts: list[Account],
            parts: Parts) -> Iterator[tuple[list[GatewayProcess], Store]]:
    """``count`` started nodes on a fresh database and bucket prefix, and a store to read."""
    sandbox, smtp_port, s3 = parts.sandbox, parts.smtp_port, parts.s3
    url, prefix = parts.postgres.fresh_database(), f"bench-{secrets.token_hex(4)}"
    host_key = make_host_key(root)
    nodes = []
    for number in range(count):
        name = f"node-{number + 1}"
        (root / name).mkdir()
        node = GatewayProcess(root=root / name, sandbox_url=sandbox.base_url,
                              smtp_port=smtp_port, accounts=accounts, token=TOKEN,
                              password_hasher=CHEAP_HASHES, host_key_file=host_key,
                              canvas_accounts=canvas_accounts(accounts),
                              # every client is 127.0.0.1 here: lift the per-address cap
                              sftp_options=["max_unauthenticated_per_address = 1000"])
        node.env.update(BENCH_DATABASE_URL=url, BENCH_S3_KEY=s3.access_key,
                        BENCH_S3_SECRET=s3.secret_key)
        node.env.update({f"TEST_CANVAS_TOKEN_{account_id}": token(account_id)
                         for account_id in canvas_accounts(accounts).values()})
        node.extra_config += node_config(name, url, s3, prefix)
        nodes.append(node)
    store = Store(PostgresDatabase(url, connections=2))
    try:
        for node in nodes:
            node.start(timeout=120)
        yield nodes, store
    finally:
        store.close()
        for node in nodes:
            node.kill()


def canvas_accounts(accounts: list[Account]) -> dict[str, str]:
    """Each institution its own Canvas account: Canvas runs one import at a time per
    account, and the gateway waits for it, so a shared account would measure Canvas."""
    return {account.name: str(number + 1) for number, account in enumerate(accounts)}


def token(account: str) -> str:
    """The sandbox's token of Canvas account ``account`` (one each, as Canvas's)."""
    return f"{TOKEN}-{account}"


def spread(store: Store, institutions: int, nodes: int) -> bool:
    """Every institution leased, over ``nodes`` distinct holders."""
    leases = LeaseTable(store.database).leases()
    owners = {lease.institution: lease.owner for lease in leases}
    return len(owners) == institutions and len(set(owners.values())) == nodes


async def upload_all(nodes: list[GatewayProcess], accounts: list[Account], folder: Path,
                     concurrency: int) -> float:
    """One users CSV per institution, round-robin over the nodes; returns the seconds from
    the first open to the last acknowledged close."""
    gate = asyncio.Semaphore(concurrency)

    async def one(turn: int, account: Account) -> None:
        path = folder / f"users_{account.name}.csv"
        path.write_text("user_id,login_id,first_name,last_name,email,status\n"
                        f"{account.name}-1,{account.name}.1,Ada,Lovelace,"
                        f"{account.name}.1@bench.example,active\n")
        async with gate, asyncssh.connect(
                "127.0.0.1", nodes[turn % len(nodes)].sftp_port, username=account.name,
                client_keys=[str(account.key_file)], known_hosts=None) as connection, \
                connection.start_sftp_client() as sftp:
            await sftp.put(str(path), f"inbox/{path.name}")

    started = time.perf_counter()
    await asyncio.gather(*(one(turn, account) for turn, account in enumerate(accounts)))
    return time.perf_counter() - started


def latencies(store: Store, expected: int) -> tuple[list[float], int]:
    """Close-to-POST seconds of every posted upload, and how many uploads are not posted
    exactly once (by Canvas import id: each batch must be one import)."""
    uploads = store.uploads()
    batches = {batch.id: batch for batch in store.batches()}
    seconds = []
    for upload in uploads:
        batch = batches.get(upload.batch_id) if upload.batch_id else None
        if batch is not None and batch.posted_at is not None:
            seconds.append(batch.posted_at - upload.received_at)
    imports = Counter(batch.import_id for batch in batches.values() if batch.import_id)
    wrong = abs(expected - len(seconds)) + sum(n - 1 for n in imports.values() if n > 1)
    return seconds, wrong


def posted(store: Store, expected: int) -> bool:
    return len(latencies(store, expected)[0]) >= expected


def run(count: int, args: argparse.Namespace, accounts: list[Account], root: Path,
        parts: Parts) -> str:
    (root / f"n{count}").mkdir()
    with cluster(root / f"n{count}", count, accounts, parts) as (nodes, store):
        wait_for(lambda: spread(store, len(accounts), count), 120, "the leases to spread")
        folder = root / f"n{count}" / "files"
        folder.mkdir()
        took = asyncio.run(upload_all(nodes, accounts, folder, args.concurrency))
        wait_for(lambda: posted(store, len(accounts)), 900, "every upload to be posted")
        seconds, wrong = latencies(store, len(accounts))
    seconds.sort()
    p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
    return (f"{count:>5} {len(accounts) / took:>10.1f} {statistics.median(seconds):>10.2f}"
            f" {p95:>8.2f} {seconds[-1]:>8.2f} {wrong:>6}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--institutions", type=int, default=500)
    parser.add_argument("--nodes", default="1,2,3")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch, ExitStack() as stack:
        root = Path(scratch)
        keys = root / "keys"
        keys.mkdir()
        accounts = [make_account(f"inst{number:04d}", keys)
                    for number in range(args.institutions)]
        sandbox = stack.enter_context(CanvasSandbox(
            accounts={account_id: token(account_id)
                      for account_id in canvas_accounts(accounts).values()},
            processing_seconds=0.05, errors_file_delay_seconds=0.05))
        smtp_port = stack.enter_context(smtp_server(Collector()))
        postgres = stack.enter_context(contextmanager(running_server)())
        s3 = stack.enter_context(running_s3_server(root / "seaweedfs"))
        print(f"{args.institutions} institutions, one upload each, {args.concurrency} "
              "SFTP clients at a time")
        print(f"{'nodes':>5} {'uploads/s':>10} {'p50 s':>10} {'p95 s':>8} {'max s':>8}"
              f" {'wrong':>6}")
        for count in (int(n) for n in args.nodes.split(",")):
            print(run(count, args, accounts, root, Parts(sandbox, smtp_port, postgres, s3)),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
