"""Trigger marks and checksum refusals in the store (both backends), their import from an
older data dir's JSON files, and the forming lock shared by every node on PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psycopg
import pytest

from gateway.intake.deliveries import Deliveries
from gateway.state.postgres import PostgresDatabase
from gateway.state.states import UploadState
from gateway.state.store import Store
from tests.conftest import StoreMaker
from tests.unit.history import Clock


def _deliveries(store: Store, trigger_mode: bool = True) -> Deliveries:
    return Deliveries(store.intake.marks, trigger_mode=lambda name: trigger_mode,
                      uploads_open=lambda name: 0)


def _received(store: Store, institution: str, count: int) -> list[int]:
    with store.transaction() as txn:
        return [txn.record_upload(institution, f"f{n}.csv", 1, "0" * 64)
                for n in range(count)]


def _take(store: Store, upload_id: int) -> None:
    with store.transaction() as txn:
        txn.move("upload", upload_id, UploadState.RECEIVED, UploadState.REJECTED,
                 reason="taken")


def test_marks_and_refusals_are_in_the_store_for_every_reader(make_store: StoreMaker,
                                                              clock: Clock) -> None:
    first = make_store(clock)
    five, six = _received(first, "alpha", 2)
    writer = _deliveries(first)
    assert writer.released_through("alpha") == 0
    writer.release("alpha", 7)
    writer.release("alpha", 3)  # marks never move back
    with writer.forming("alpha"):
        writer.refuse("alpha", five, "bad checksum")
    _take(first, five)  # the sorter used the refusal: dropped with the next one
    with writer.forming("alpha"):
        writer.refuse("alpha", six, "bad too")
    reader = _deliveries(make_store(clock))  # another node, or this one restarted
    assert reader.released_through("alpha") == 7
    assert reader.refused("alpha") == {six: "bad too"}
    assert reader.released_through("beta") == 0
    assert reader.refused("beta") == {}
    assert _deliveries(first, trigger_mode=False).released_through("alpha") is None


def test_an_older_data_dirs_json_marks_are_imported_once(store: Store,
                                                         tmp_path: Path) -> None:
    waiting, taken = _received(store, "alpha", 2)
    _take(store, taken)
    folder = tmp_path / "spool" / "intake"
    folder.mkdir(parents=True)
    (folder / "alpha.json").write_text(json.dumps(
        {"released_through": 9, "refused": {str(waiting): "bad", str(taken): "used"}}))
    deliveries = _deliveries(store)
    deliveries.release("alpha", 4)
    assert deliveries.import_files(folder) == 1
    assert not (folder / "alpha.json").exists()
    assert deliveries.released_through("alpha") == 9
    assert deliveries.refused("alpha") == {waiting: "bad"}
    deliveries.release("alpha", 12)
    assert deliveries.import_files(folder) == 0  # once: nothing is read back over newer marks
    assert deliveries.released_through("alpha") == 12
    assert deliveries.import_files(tmp_path / "absent") == 0


def test_an_unreadable_json_marks_file_is_named(store: Store, tmp_path: Path) -> None:
    (tmp_path / "alpha.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"alpha\.json: not a trigger-marks file .* fix or "
                                         r"remove it"):
        store.intake.marks.import_files(tmp_path)
    assert (tmp_path / "alpha.json").exists()


def _advisory_waiters(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                 " AND NOT granted").fetchone()
    return int(row[0]) if row else 0


def test_the_forming_lock_holds_across_nodes_on_postgresql(postgres_url: str,
                                                           clock: Clock) -> None:
    stores = [Store(PostgresDatabase(postgres_url, connections=3), clock=clock)
              for _ in range(2)]
    try:
        _hold_on_a_then_b(postgres_url, *map(_deliveries, stores))
    finally:
        for store in stores:
            store.close()


def _hold_on_a_then_b(postgres_url: str, node_a: Deliveries, node_b: Deliveries) -> None:
    entered = threading.Event()

    def form_on_b() -> None:
        with node_b.forming("alpha"):
            entered.set()

    with node_a.forming("alpha"), node_a.forming("alpha"):  # reentrant on one node
        with node_b.forming("beta"):
            pass  # another institution does not wait
        waiter = threading.Thread(target=form_on_b)
        waiter.start()
        deadline = time.monotonic() + 10
        while _advisory_waiters(postgres_url) == 0:
            assert time.monotonic() < deadline, "node B never asked for the lock"
            time.sleep(0.02)
        assert not entered.is_set()  # B is queued on A's lock in the database
    assert entered.wait(10)
    waiter.join()
