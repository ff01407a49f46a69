"""The inbox's memory in the store (both backends): what was received lately, in any state,
and what a client removed from view, as every node reads it."""

from __future__ import annotations

from gateway.intake.inbox import RECENT_SECONDS, StoredReceipts
from gateway.state.states import UploadState
from gateway.state.store import Store
from tests.conftest import StoreMaker
from tests.unit.history import Clock


def _received(store: Store, institution: str, name: str, folder: str | None = None) -> int:
    with store.transaction() as txn:
        return txn.record_upload(institution, name, 5, "0" * 64, folder=folder)


def test_another_node_lists_what_was_received_lately_in_any_state(
        make_store: StoreMaker, clock: Clock) -> None:
    node_a, node_b = make_store(clock), make_store(clock)
    old = _received(node_a, "alpha", "old.csv")
    clock.now += RECENT_SECONDS + 1
    taken = _received(node_a, "alpha", "users.csv", "batch/fall")
    with node_a.transaction() as txn:  # the sorter took it: still listed while recent
        txn.move("upload", taken, UploadState.RECEIVED, UploadState.REJECTED, reason="x")
    waiting = _received(node_a, "alpha", "courses.csv")
    _received(node_a, "beta", "users.csv")
    receipts = StoredReceipts(node_b.intake.inbox, clock=clock)
    recent = receipts.recent("alpha", clock.now)
    assert [(e.upload_id, e.name, e.folder) for e in recent] == [
        (taken, "users.csv", "batch/fall"), (waiting, "courses.csv", None)]
    assert old not in {e.upload_id for e in recent}
    receipts.hide("alpha", [taken, waiting])
    elsewhere = StoredReceipts(node_a.intake.inbox, clock=clock)
    assert elsewhere.recent("alpha", clock.now) == []
    assert elsewhere.hidden_among("alpha", [old, taken, waiting]) == {taken, waiting}
    clock.now += RECENT_SECONDS + 1
    elsewhere.hide("alpha", [])  # old hidden rows go, unless their upload still waits
    assert elsewhere.hidden_among("alpha", [taken, waiting]) == {waiting}
