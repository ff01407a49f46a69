"""`gateway status`: queues, in-flight, held and last success per institution, from the store."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.ops.cli import main
from gateway.ops.status import status_rows
from gateway.state.leases import LeaseTable
from gateway.state.postgres import PostgresDatabase
from gateway.state.states import BatchState
from gateway.state.store import Store
from tests.unit.daemon_stand_in import running_on


@pytest.fixture
def store(commands_store: Store) -> Store:
    """The store on each backend, the one ``--data`` opens (a missing state.db is SQLite's
    own case: that test asks for no store)."""
    return commands_store


def _history(store: Store) -> None:
    with store.transaction() as txn:
        done = txn.create_batch("alpha")
        txn.move("batch", done, BatchState.OPEN, BatchState.READY)
        txn.move("batch", done, BatchState.READY, BatchState.SUBMITTING)
        txn.move("batch", done, BatchState.SUBMITTING, BatchState.IMPORTING, import_id=41)
        txn.move("batch", done, BatchState.IMPORTING, BatchState.IMPORTED, finished_at=txn.now)
        held = txn.create_batch("alpha")
        txn.move("batch", held, BatchState.OPEN, BatchState.READY)
        txn.move("batch", held, BatchState.READY, BatchState.HELD, reason="Canvas said 401")
        txn.create_batch("alpha")
        txn.record_upload("beta", "users.csv", 10, "0" * 64)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[None]:
    with running_on(tmp_path):
        yield


@pytest.mark.usefixtures("running")
def test_status_json_names_queue_holds_and_last_success(
        store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _history(store)
    code = main(["status", "--data", str(tmp_path), "--json"])
    rows = {row["institution"]: row for row in json.loads(capsys.readouterr().out)}
    assert code == 1  # something is held
    alpha = rows["alpha"]
    assert alpha["last_success"]["canvas_import"] == 41
    assert alpha["held"] == [{"batch": 2, "reason": "Canvas said 401"}]
    assert alpha["batches_queued"] == [3]
    assert rows["beta"]["uploads_waiting"] == 1
    assert "demo" in rows  # the configured (demo) institution is listed even when idle


@pytest.mark.usefixtures("running")
def test_status_table_is_readable(store: Store, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    _history(store)
    assert main(["status", "--data", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"gateway: running on {tmp_path} (pid ")
    [alpha] = [line for line in out.splitlines() if line.startswith("alpha ")]
    assert "#2 held: Canvas said 401" in alpha  # on the institution's own line
    assert "(import 41)" in alpha


def test_status_says_not_running_and_exits_3(store: Store, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _history(store)
    assert main(["status", "--data", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert out.startswith(f"gateway: NOT RUNNING on {tmp_path}: nothing is received or sent")
    assert "INSTITUTION" in out  # the queues as it left them
    assert main(["status", "--data", str(tmp_path), "--json"]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["institution"] == "alpha"
    assert "NOT RUNNING" in captured.err


def test_a_stopped_cluster_node_names_the_live_ones_instead_of_saying_nothing_is_sent(
        store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _history(store)
    LeaseTable(store.database).heartbeat("node-b")  # another node, alive
    LeaseTable(store.database).heartbeat(socket.gethostname())  # this one, just killed
    assert main(["status", "--data", str(tmp_path)]) == 3  # this one does not run
    out = capsys.readouterr().out
    if isinstance(store.database, PostgresDatabase):
        assert "NOT RUNNING" in out
        assert "the cluster's live nodes (node-b) receive and send" in out
        assert "nothing is received or sent" not in out
    else:  # one machine: a nodes row is nobody's (nothing but the data dir's daemon works)
        assert "nothing is received or sent" in out


def test_status_without_data_is_a_clear_error(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--data", str(tmp_path / "nothing")]) == 2
    assert "state.db missing): pass --data DIR (the daemon's data dir) or --config FILE" \
        in capsys.readouterr().err


def test_the_public_rows_name_the_institutions_own_batches_and_no_upload_ids(
        store: Store, tmp_path: Path) -> None:
    _history(store)
    with store.transaction() as txn:  # beta's first batch is the store's fourth
        beta = txn.create_batch("beta")
        txn.move("batch", beta, BatchState.OPEN, BatchState.READY)
        txn.move("batch", beta, BatchState.READY, BatchState.HELD, reason="parked")
    [ops] = status_rows(store, [], only="beta")
    [public] = status_rows(store, [], only="beta", public=True)
    assert ops["held"] == [{"batch": 4, "reason": "parked"}]
    assert public["held"] == [{"batch": 1, "reason": "parked"}]
    assert ops["oldest_waiting"]["upload"] == 1
    assert "upload" not in public["oldest_waiting"]
    assert public["oldest_waiting"]["file"] == "users.csv"


def test_the_table_names_the_oldest_waiting_upload(store: Store, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _history(store)
    main(["status", "--data", str(tmp_path)])
    assert "upload 1 users.csv since" in capsys.readouterr().out


def test_gateway_reject_takes_a_waiting_upload_out_with_the_reason(
        store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _history(store)
    assert main(["reject", "1", "--reason", "wrong term", "--data", str(tmp_path)]) == 0
    assert "upload 1: rejected in batch 4" in capsys.readouterr().out
    assert "operator: wrong term" in (store.upload(1).problem or "")
    assert main(["reject", "1", "--reason", "again", "--data", str(tmp_path)]) == 1
    assert "no longer waiting" in capsys.readouterr().err


def test_a_stale_pid_file_is_not_a_running_gateway(store: Store, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _history(store)
    with running_on(tmp_path) as pid:
        assert main(["status", "--data", str(tmp_path)]) == 1
        assert f"(pid {pid})" in capsys.readouterr().out
        stale = tmp_path / "gateway.pid"
        kept = stale.read_text()
    stale.write_text(kept)  # as a crash leaves it: the process is gone
    assert main(["status", "--data", str(tmp_path)]) == 3
    assert "NOT RUNNING" in capsys.readouterr().out
