"""What a vendor reads in a cluster is on the shared shelf: two gateway processes on one
PostgreSQL, one SeaweedFS bucket and one sandbox; the institution's lease holder publishes
its reports, status.json and an export, and a vendor connected through the OTHER node reads
them with OpenSSH sftp and paramiko, byte for byte what is in the bucket.  Neither node
keeps them on its disk, and the vendor can change nothing there through either node."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from gateway.exports.runs import runs_of
from gateway.sandbox.server import CanvasSandbox
from gateway.state.leases import LeaseTable
from gateway.state.states import BatchState, ExportRunState, NoticeState
from gateway.state.store import Store
from tests.integration.conftest import NodeMaker
from tests.integration.exports.conftest import request
from tests.integration.gateway_process import Account, GatewayProcess, wait_for
from tests.integration.sftp_clients import openssh_batch, openssh_put, paramiko_session
from tests.integration.test_cluster import settled, users_file
from tests.s3_server import S3Server

EXPORT = "last_user_access_csv"
EXPORT_LINES = ["[[institutions.alpha.exports]]", f'report = "{EXPORT}"']
EXPORT_TIMES = ["[exports]", "poll_initial_seconds = 0.2", "poll_max_seconds = 0.5",
                "retry_initial_seconds = 0.3", "retry_max_seconds = 1.0"]


def _pair(make_node: NodeMaker, table: LeaseTable) -> tuple[GatewayProcess, GatewayProcess]:
    """Two started nodes with alpha's export configured: alpha's holder, and the other."""
    nodes = {name: make_node(name) for name in ("node-a", "node-b")}
    for node in nodes.values():
        node.intake_options = {"alpha": EXPORT_LINES}
        node.extra_config = EXPORT_TIMES + node.extra_config
        node.start()
    owner = settled(table, "alpha", set(nodes))
    [other] = set(nodes) - {owner}
    return nodes[owner], nodes[other]


def _bucket_object(server: S3Server, node: GatewayProcess, path: str) -> bytes:
    """The bytes of ``homes/alpha/<path>`` under the node's configured prefix."""
    [prefix] = [line.split('"')[1] for line in node.extra_config if line.startswith("prefix")]
    answer = server.client().get_object(Bucket=server.bucket,
                                        Key=f"{prefix}/homes/alpha/{path}")
    with answer["Body"] as body:
        data: bytes = body.read()
    return data


def _get(node: GatewayProcess, alpha: Account, paths: list[str], into: Path) -> list[bytes]:
    """Download ``paths`` through ``node`` with OpenSSH sftp; their bytes."""
    into.mkdir(exist_ok=True)
    done = openssh_batch(node.sftp_port, alpha,
                         [f'get "{path}" "{into}/{n}"' for n, path in enumerate(paths)])
    assert done.returncode == 0, done.stderr
    return [(into / str(n)).read_bytes() for n in range(len(paths))]


def _settled_notices(store: Store) -> bool:
    return bool(store.notices()) and not store.notices(state=NoticeState.PENDING)


def test_reports_status_and_exports_read_through_the_other_node(
        make_node: NodeMaker, shared: tuple[Store, LeaseTable], sandbox: CanvasSandbox,
        alpha: Account, s3_server: S3Server, tmp_path: Path) -> None:
    store, table = shared
    holder, other = _pair(make_node, table)
    openssh_put(other.sftp_port, alpha, [users_file(tmp_path, "alpha", 0)])
    wait_for(lambda: [b.state for b in store.batches()] == [BatchState.IMPORTED], 60,
             "the batch imported")
    request(other, alpha, EXPORT)
    wait_for(lambda: [r.state for r in runs_of(store, "alpha", EXPORT)]
             == [ExportRunState.PUBLISHED], 60, "the export published")
    wait_for(lambda: _settled_notices(store), 30, "every report and export mail sent")
    [batch] = store.batches()
    [run] = runs_of(store, "alpha", EXPORT)
    names = [f"reports/{batch.reference}.receipt.txt", f"reports/{batch.reference}.result.txt",
             f"reports/{batch.reference}.result.json", "reports/status.json",
             f"outbox/{EXPORT}/{run.file_name}"]

    through_other = _get(other, alpha, names, tmp_path / "other")
    assert through_other == _get(holder, alpha, names, tmp_path / "holder")
    assert through_other == [_bucket_object(s3_server, holder, name) for name in names]
    assert batch.reference.encode() in through_other[1]
    assert b'"format": 1' in through_other[3]
    [made] = [r.file.content for r in sandbox.report_runs.all("1")
              if r.report == EXPORT and r.file is not None]
    assert through_other[4] == made
    for node in (holder, other):  # nothing node-local: no reports or outbox folders at all
        assert not (node.data_dir / "sftp" / "alpha" / "reports").exists()
        assert not (node.data_dir / "sftp" / "alpha" / "outbox").exists()

    listed = openssh_batch(other.sftp_port, alpha, ["ls -l reports", f"ls -l outbox/{EXPORT}",
                                                     "ls outbox"])
    assert listed.returncode == 0, listed.stderr
    assert "status.json" in listed.stdout
    assert f"{batch.reference}.result.txt" in listed.stdout
    assert str(run.file_name) in listed.stdout
    assert "-r--r--r--" in listed.stdout
    client, sftp = paramiko_session(other.sftp_port, alpha)
    try:
        assert sorted(sftp.listdir("outbox")) == [EXPORT]
        assert sftp.stat("reports/status.json").st_size == len(through_other[3])
        with sftp.open(f"outbox/{EXPORT}/{run.file_name}") as remote:
            assert remote.read() == through_other[4]
        with pytest.raises(FileNotFoundError):
            sftp.stat("reports/batch-999999.result.txt")
        with pytest.raises(FileNotFoundError):
            sftp.listdir("outbox/no_such_export")
    finally:
        client.close()
    _refused_everywhere(holder, other, alpha, names, tmp_path)
    assert [_bucket_object(s3_server, holder, name) for name in names] == through_other


def _refused_everywhere(holder: GatewayProcess, other: GatewayProcess, alpha: Account,
                        names: list[str], tmp_path: Path) -> None:
    """No write, rename or remove in /reports or /outbox, through either node."""
    local = tmp_path / "x.csv"
    local.write_bytes(b"user id\n")
    report, export = names[3], names[4]
    for node in (holder, other):
        for command in (f'put "{local}" "{report}"', f'put "{local}" reports/new.txt',
                        f'put "{local}" "{export}"', f'rename "{report}" reports/other.json',
                        f'rename "{export}" outbox/{EXPORT}/other.csv', f'rm "{report}"',
                        f'rm "{export}"', "mkdir outbox/mine", f'chmod 777 "{report}"'):
            done = openssh_batch(node.sftp_port, alpha, [command])
            assert done.returncode != 0, (node.root.name, command)
        client, sftp = paramiko_session(node.sftp_port, alpha)
        try:
            for path in (report, export):
                with pytest.raises(PermissionError):
                    sftp.open(path, "w")
                with pytest.raises(PermissionError):
                    sftp.remove(path)
                with pytest.raises(PermissionError):
                    sftp.rename(path, "reports/renamed.txt")
        except paramiko.SSHException as error:
            pytest.fail(f"{node.root.name}: {error}")
        finally:
            client.close()
