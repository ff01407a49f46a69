"""The exporter's housekeeping: a downloaded file no run will publish does not stay in the
spool (a crash between publishing and removing it, a run failed after its download)."""

from __future__ import annotations

from pathlib import Path

from gateway.exports.config import ExportsSettings
from gateway.exports.exporter import Exporter
from gateway.state.spool import Spool
from gateway.state.states import ExportRunState
from gateway.state.store import Store
from tests.conftest import StoreMaker

S = ExportRunState
NOW = 1_800_000_000.0


def run_in(store: Store, slot: str, *states: ExportRunState) -> int:
    """A run moved through ``states`` (its next step far off: the round leaves it be)."""
    with store.transaction() as txn:
        run_id = txn.add_export_run("alpha", "grades", "grade_export_csv", slot=slot,
                                    trigger="request", parameters={})
        assert run_id is not None
        previous = S.SCHEDULED
        for state in states:
            txn.move("export_run", run_id, previous, state, next_attempt_at=NOW + 3600)
            previous = state
    return run_id


def test_held_files_of_ended_runs_are_removed_and_waiting_ones_kept(
        tmp_path: Path, make_store: StoreMaker) -> None:
    store = make_store(lambda: NOW)
    spool = Spool(tmp_path / "data")
    spool.exports.mkdir(parents=True)
    published = run_in(store, "a", S.STARTING, S.STARTED, S.DOWNLOADED, S.PUBLISHED)
    failed = run_in(store, "b", S.STARTING, S.STARTED, S.DOWNLOADED, S.FAILED)
    waiting = run_in(store, "c", S.STARTING, S.STARTED, S.DOWNLOADED)
    downloading = run_in(store, "d", S.STARTING, S.STARTED)
    for run_id in (published, failed, waiting, downloading):
        spool.export_path(run_id).write_bytes(b"report")
    exporter = Exporter(store=store, spool=spool, institutions=dict,
                        settings=ExportsSettings())
    exporter.step()
    assert sorted(p.name for p in spool.exports.iterdir()) == [
        spool.export_path(waiting).name, spool.export_path(downloading).name]
