"""Several gateway processes sharing one PostgreSQL, one SeaweedFS bucket and one sandbox
Canvas: uploads to any node reach Canvas once each and in upload order per institution; a
holder SIGKILLed mid-POST, mid-poll with a mail pending, mid-mail-send or mid-upload is
replaced within the lease time, with nothing lost or done twice (a mail the server took on
just before the kill is sent again with its Message-ID); a node paused past its lease
writes nothing when it resumes."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path

import paramiko
import pytest

from gateway.cluster import assignment
from gateway.sandbox import Faults, LatencyFault
from gateway.sandbox.server import CanvasSandbox
from gateway.state.leases import LeaseTable
from gateway.state.states import BatchState, NoticeState, UploadState
from gateway.state.store import Store
from tests.integration.conftest import LEASE, NodeMaker
from tests.integration.gateway_process import (
    Account,
    GatewayProcess,
    wait_for,
)
from tests.integration.mail_server import Collector
from tests.integration.sftp_clients import openssh_put, paramiko_session
from tests.postgres import PASSWORD

TAKE_OVER = LEASE + LEASE / 3 + 2.0
"""The bound on a take-over: the lease, one round of the keeper, and slack for 2 cores."""
IMPORTED = (BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES)


def users_file(folder: Path, institution: str, number: int) -> Path:
    """A users CSV of its own (distinct rows: never a duplicate of another upload)."""
    path = folder / f"users_{institution}_{number}.csv"
    path.write_text("user_id,login_id,first_name,last_name,email,status\n"
                    f"{institution}{number},{institution}.{number},Ada,Lovelace,"
                    f"{institution}.{number}@demo.example,active\n")
    return path


def holder(table: LeaseTable, institution: str, among: set[str]) -> str:
    """The node among ``among`` whose lease covers ``institution`` ("" if none)."""
    for lease in table.leases():
        if lease.institution == institution and lease.owner in among:
            return lease.owner
    return ""


def settled(table: LeaseTable, institution: str, nodes: set[str]) -> str:
    """Wait until ``institution`` is held by the node the spread gives it when all of
    ``nodes`` are live (the first node up takes everything, then hands shares over)."""
    wanted = assignment.owner(institution, sorted(nodes))
    assert wanted is not None
    wait_for(lambda: holder(table, institution, nodes) == wanted, 20,
             f"{institution} leased to {wanted}")
    return wanted


def started(make_node: NodeMaker, names: tuple[str, ...]) -> dict[str, GatewayProcess]:
    """Nodes of those names, started one after the other."""
    nodes = {name: make_node(name) for name in names}
    for node in nodes.values():
        node.start()
    return nodes


def pair(make_node: NodeMaker, table: LeaseTable) -> tuple[dict[str, GatewayProcess], str,
                                                           str]:
    """Two started nodes, once alpha is with its node: the nodes, alpha's holder, the other."""
    nodes = started(make_node, ("node-a", "node-b"))
    owner = settled(table, "alpha", set(nodes))
    [other] = set(nodes) - {owner}
    return nodes, owner, other


def deliver_one_by_one(store: Store, nodes: list[GatewayProcess], accounts: list[Account],
                       folder: Path, count: int) -> None:
    """Upload ``count`` files per institution, each to the next node in turn, waiting until
    each is batched so that each is its own import."""
    turn = 0
    for number in range(count):
        for account in accounts:
            path = users_file(folder, account.name, number)
            openssh_put(nodes[turn % len(nodes)].sftp_port, account, [path])
            turn += 1
            wait_for(partial(batched, store, account.name, path.name), 30,
                     f"{path.name} to be batched")


def batched(store: Store, institution: str, filename: str) -> bool:
    """Whether the upload of ``filename`` has left RECEIVED (it is in a batch)."""
    return any(u.filename == filename and u.state is not UploadState.RECEIVED
               for u in store.uploads(institution=institution))


def assert_imported_once_in_order(store: Store, sandbox: CanvasSandbox,
                                  accounts: list[Account], count: int) -> None:
    """Every batch imported once, each institution's in upload order; no other import."""
    imports = sandbox.imports("1")
    assert len(imports) == len(accounts) * count  # 0 lost, 0 duplicated
    for account in accounts:
        batches = store.batches(institution=account.name)
        assert [b.state in IMPORTED for b in batches] == [True] * count
        names = [u.filename for b in batches for u in store.uploads(batch_id=b.id)]
        assert names == [f"users_{account.name}_{n}.csv" for n in range(count)]
        import_ids = [b.import_id or 0 for b in batches]
        assert import_ids == sorted(import_ids), "imported out of upload order"


def heartbeat(store: Store, node: str) -> float:
    """The node's last heartbeat, by the database's clock."""
    rows = store.database.rows("SELECT heartbeat_at FROM nodes WHERE name = ?", (node,))
    return float(rows[0][0]) if rows else 0.0


def report_subjects(mailbox: tuple[Collector, int]) -> Counter[str]:
    subjects = [line.decode() for message in mailbox[0].messages
                for line in message.content.split(b"\r\n") if line.startswith(b"Subject:")]
    return Counter(subjects)


def test_uploads_to_either_node_reach_canvas_once_in_order(
        make_node: NodeMaker, shared: tuple[Store, LeaseTable], sandbox: CanvasSandbox,
        mailbox: tuple[Collector, int], alpha: Account, beta: Account,
        tmp_path: Path) -> None:
    store, table = shared
    nodes = [make_node("node-a"), make_node("node-b")]
    for node in nodes:
        node.start()
    wait_for(lambda: all(holder(table, name, {"node-a", "node-b"}) for name in
                         ("alpha", "beta")), 20, "both institutions leased")
    deliver_one_by_one(store, nodes, [alpha, beta], tmp_path, 3)
    wait_for(lambda: all(b.state in IMPORTED for b in store.batches())
             and len(store.batches()) == 6, 60, "every batch imported")
    assert_imported_once_in_order(store, sandbox, [alpha, beta], 3)
    wait_for(lambda: sum(report_subjects(mailbox).values()) >= 6, 30, "the reports")
    assert set(report_subjects(mailbox).values()) == {1}  # each report once
    for node in nodes:
        assert node.stop() == 0
        assert PASSWORD not in node.logs()


def test_a_node_killed_mid_post_is_replaced_within_the_lease_time(
        make_node: NodeMaker, shared: tuple[Store, LeaseTable], sandbox: CanvasSandbox,
        mailbox: tuple[Collector, int], alpha: Account, tmp_path: Path) -> None:
    store, table = shared
    nodes = started(make_node, ("node-a", "node-b", "node-c"))
    owner = settled(table, "alpha", set(nodes))
    sandbox.faults = Faults(latency=LatencyFault(seconds=4.0, count=1, methods=("POST",),
                                                 path=r"/sis_imports$"))
    openssh_put(nodes[owner].sftp_port, alpha, [users_file(tmp_path, "alpha", 0)])
    wait_for(lambda: [b.state for b in store.batches()] == [BatchState.SUBMITTING], 20,
             "the POST to be under way")
    nodes[owner].kill()
    killed_at = time.monotonic()
    survivors = set(nodes) - {owner}
    wait_for(lambda: holder(table, "alpha", survivors), TAKE_OVER + 5, "a take-over")
    took = time.monotonic() - killed_at
    print(f"take-over after SIGKILL mid-POST: {took:.2f} s (lease {LEASE} s)")
    assert took <= TAKE_OVER
    wait_for(lambda: [b.state in IMPORTED for b in store.batches()] == [True], 60,
             "the batch imported by the new holder")
    assert_imported_once_in_order(store, sandbox, [alpha], 1)
    wait_for(lambda: sum(report_subjects(mailbox).values()) >= 2, 30, "the reports")
    assert set(report_subjects(mailbox).values()) == {1}


def test_a_node_paused_past_its_lease_writes_nothing_when_it_resumes(
        make_node: NodeMaker, shared: tuple[Store, LeaseTable], sandbox: CanvasSandbox,
        mailbox: tuple[Collector, int], alpha: Account, tmp_path: Path) -> None:
    store, table = shared
    nodes, owner, other = pair(make_node, table)
    sandbox.processing_seconds = 3.0  # the holder is polling the import when it pauses
    openssh_put(nodes[other].sftp_port, alpha, [users_file(tmp_path, "alpha", 0)])
    wait_for(lambda: [b.state for b in store.batches()] == [BatchState.IMPORTING], 20,
             "the import under way")
    # Not in the middle of sending the receipt: a mail sent and not yet recorded by a node
    # that then stops is sent again by the next holder (at least once, same Message-ID).
    wait_for(lambda: mailbox[0].messages and not store.notices(state=NoticeState.PENDING),
             20, "the receipt sent")
    paused = nodes[owner].process
    assert paused is not None
    paused.send_signal(signal.SIGSTOP)
    wait_for(lambda: holder(table, "alpha", {other}), TAKE_OVER + 5, "a take-over")
    wait_for(lambda: [b.state in IMPORTED for b in store.batches()] == [True], 60,
             "the batch imported by the new holder")
    [batch] = store.batches()
    history = store.history("batch", batch.id)
    paused.send_signal(signal.SIGCONT)
    wait_for(lambda: "lease lost" in nodes[owner].logs(), 20, "the resumed node to notice")
    wait_for(lambda: sum(report_subjects(mailbox).values()) >= 2, 30, "the reports")
    # Two more of its keeper's rounds (its heartbeats, by the database's clock): nothing
    # it had under way has landed meanwhile.
    resumed = float(store.database.rows(f"SELECT {store.database.clock}")[0][0])
    wait_for(lambda: heartbeat(store, owner) > resumed + 2 * LEASE / 3, 20, "two rounds")
    assert store.history("batch", batch.id) == history
    assert len(sandbox.imports("1")) == 1
    assert set(report_subjects(mailbox).values()) == {1}
    assert paused.poll() is None  # it lives on (and may hold alpha again: a new epoch)


def test_a_holder_killed_while_polling_with_mail_pending_is_replaced_once(
        make_node: NodeMaker, shared: tuple[Store, LeaseTable], sandbox: CanvasSandbox,
        mailbox: tuple[Collector, int], alpha: Account, tmp_path: Path) -> None:
    store, table = shared
    nodes, owner, other = pair(make_node, table)
    sandbox.processing_seconds = 3.0
    mailbox[0].data_reply = "451 try again later"  # the receipt waits in the outbox
    openssh_put(nodes[other].sftp_port, alpha, [users_file(tmp_path, "alpha", 0)])
    wait_for(lambda: [b.state for b in store.batches()] == [BatchState.IMPORTING], 20,
             "the holder polling the import")
    wait_for(lambda: any(n.attempts for n in store.notices(state=NoticeState.PENDING)), 20,
             "a refused mail")
    nodes[owner].kill()
    killed_at = time.monotonic()
    mailbox[0].data_reply = "250 Message accepted"
    wait_for(lambda: holder(table, "alpha", {other}), TAKE_OVER + 5, "a take-over")
    print(f"take-over after SIGKILL mid-poll: {time.monotonic() - killed_at:.2f} s")
    wait_for(lambda: [b.state in IMPORTED for b in store.batches()] == [True], 60,
             "the batch imported")
    assert_imported_once_in_order(store, sandbox, [alpha], 1)
    wait_for(lambda: not store.notices(state=NoticeState.PENDING)
             and sum(report_subjects(mailbox).values()) >= 2, 60, "the reports")
    assert set(report_subjects(mailbox).values()) == {1}


@pytest.mark.parametrize("taken", [False, True], ids=["not-taken", "taken"])
def test_a_holder_killed_mid_mail_send_is_replaced_and_the_mail_sent(
        make_node: NodeMaker, shared: tuple[Store, LeaseTable], sandbox: CanvasSandbox,
        mailbox: tuple[Collector, int], alpha: Account, tmp_path: Path, taken: bool) -> None:
    """SIGKILL while the mail server has the receipt's DATA and has not answered: the next
    holder sends it.  If the server had not taken the message on, it arrives once; if it
    had (the window no SMTP client can close), it arrives twice with one Message-ID, so
    mail clients show it once."""
    store, table = shared
    nodes, owner, other = pair(make_node, table)
    collector = mailbox[0]
    collector.stall, collector.keep_stalled = threading.Event(), taken
    openssh_put(nodes[other].sftp_port, alpha, [users_file(tmp_path, "alpha", 0)])
    assert collector.stalled.wait(30), "the receipt never reached the mail server"
    nodes[owner].kill()
    collector.stall.set()  # the dead sender's message is now dropped or kept
    wait_for(lambda: holder(table, "alpha", {other}), TAKE_OVER + 5, "a take-over")
    wait_for(lambda: [b.state in IMPORTED for b in store.batches()] == [True], 60,
             "the batch imported")
    assert_imported_once_in_order(store, sandbox, [alpha], 1)
    wait_for(lambda: not store.notices(state=NoticeState.PENDING)
             and sum(report_subjects(mailbox).values()) >= (3 if taken else 2), 60,
             "the reports")
    ids = Counter(line for message in collector.messages
                  for line in message.content.split(b"\r\n")
                  if line.lower().startswith(b"message-id:"))
    # The receipt and the result; a resent receipt keeps its id (its text may differ: it is
    # rendered again, after the POST).
    assert sorted(ids.values()) == ([1, 2] if taken else [1, 1])


def test_an_upload_cut_by_a_killed_node_is_received_once_through_the_other(
        make_node: NodeMaker, shared: tuple[Store, LeaseTable], sandbox: CanvasSandbox,
        alpha: Account, tmp_path: Path) -> None:
    store, table = shared
    nodes, owner, other = pair(make_node, table)
    path = users_file(tmp_path, "alpha", 0)
    client, sftp = paramiko_session(nodes[owner].sftp_port, alpha)
    try:
        with sftp.open(f"inbox/{path.name}", "wb") as remote:
            remote.write(path.read_bytes()[:20])
            remote.flush()
            nodes[owner].kill()  # the holder dies with the upload half written
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the client sees the cut: the upload was never acknowledged
    finally:
        client.close()
    openssh_put(nodes[other].sftp_port, alpha, [path])  # the sender tries again
    wait_for(lambda: holder(table, "alpha", {other}), TAKE_OVER + 5, "a take-over")
    wait_for(lambda: [b.state in IMPORTED for b in store.batches()] == [True], 60,
             "the batch imported")
    assert_imported_once_in_order(store, sandbox, [alpha], 1)
    assert [u.filename for u in store.uploads()] == [path.name]  # the cut one never counted
