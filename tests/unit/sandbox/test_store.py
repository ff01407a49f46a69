"""The store hands out one import at a time per account, oldest first."""

from __future__ import annotations

import threading

import pytest

from gateway.sandbox.processing import process_upload
from gateway.sandbox.records import ImportOptions, UploadedFile, WorkflowState
from gateway.sandbox.store import ImportStore

UPLOAD = UploadedFile("users.csv", "text/csv", b"user_id,login_id,status\nu,l,active\n")


def test_claims_are_fifo_and_one_at_a_time_per_account() -> None:
    store = ImportStore(["1", "2"], 0.0)
    stop = threading.Event()
    first = store.create("1", ImportOptions(), UPLOAD)
    second = store.create("1", ImportOptions(), UPLOAD)
    other = store.create("2", ImportOptions(), UPLOAD)
    claimed = store.claim_next("1", stop)
    assert claimed is not None
    assert claimed.id == first.id
    assert claimed.workflow_state is WorkflowState.IMPORTING
    assert claimed.started_at is not None
    # Account 2 is independent of account 1's running import.
    claimed_other = store.claim_next("2", stop)
    assert claimed_other is not None
    assert claimed_other.id == other.id

    # Account 1 must wait for its running import: a stopper thread releases the wait.
    def stop_soon() -> None:
        stop.set()
        store.wake_all()

    threading.Timer(0.1, stop_soon).start()
    assert store.claim_next("1", stop) is None
    outcome = process_upload(
        UPLOAD.filename, UPLOAD.payload, skip_deletes=False, error_report=lambda: 1
    )
    done = store.finish("1", first.id, outcome)
    assert done.workflow_state is WorkflowState.IMPORTED
    assert done.ended_at is not None
    assert store.get("1", second.id) is not None
    assert store.get("2", second.id) is None


def test_initializing_imports_are_never_claimed() -> None:
    store = ImportStore(["1"], 0.0)
    store.create("1", ImportOptions(), UPLOAD, WorkflowState.INITIALIZING)
    queued = store.create("1", ImportOptions(), UPLOAD)
    claimed = store.claim_next("1", threading.Event())
    assert claimed is not None
    assert claimed.id == queued.id


def test_ids_and_counters() -> None:
    store = ImportStore(["1", "2"], 0.5)
    assert [store.create(a, ImportOptions(), UPLOAD).id for a in ("1", "2", "1")] == [1, 2, 3]
    assert [store.next_error_report(), store.next_error_report()] == [1, 2]
    assert store.term_id("1", "17") == 17
    assert store.term_id("1", "sis_term_id:FA") == store.term_id("1", "sis_term_id:FA")
    assert store.term_id("1", "sis_term_id:FA") != store.term_id("1", "sis_term_id:SP")
    store.processing_seconds = 2.5
    assert store.processing_seconds == 2.5


def test_processing_seconds_must_be_finite_and_not_negative() -> None:
    store = ImportStore(["1"], 0.5)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="processing_seconds"):
            store.processing_seconds = bad
