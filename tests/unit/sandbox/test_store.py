"""The store hands out one import at a time per account, oldest first."""

from __future__ import annotations

import threading
import time

import pytest

from gateway.sandbox.processing import process_upload
from gateway.sandbox.records import ImportOptions, Outcome, UploadedFile, WorkflowState
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
    store.processing_seconds = 2.5
    assert store.processing_seconds == 2.5


def test_processing_seconds_must_be_finite_and_not_negative() -> None:
    store = ImportStore(["1"], 0.5)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="processing_seconds"):
            store.processing_seconds = bad


def finished_outcome() -> Outcome:
    return process_upload(
        "users.csv",
        b"user_id,login_id,status\n,l,active\n",
        skip_deletes=False,
        error_report=lambda: 1,
    )


def test_abort_only_not_completed_imports() -> None:
    store = ImportStore(["1"], 0.0)
    initializing = store.create("1", ImportOptions(), UPLOAD, WorkflowState.INITIALIZING)
    created = store.create("1", ImportOptions(), UPLOAD)
    aborted = store.abort("1", initializing.id)
    assert aborted is not None
    assert (aborted.workflow_state, aborted.progress) == (WorkflowState.ABORTED, 0)
    claimed = store.claim_next("1", threading.Event())
    assert claimed is not None
    assert claimed.id == created.id
    store.finish("1", created.id, finished_outcome())
    assert store.abort("1", created.id) is None  # finished: 404 at the API
    assert store.abort("1", 999) is None


def test_finish_never_overwrites_an_abort() -> None:
    store = ImportStore(["1"], 0.0)
    record = store.create("1", ImportOptions(), UPLOAD)
    store.claim_next("1", threading.Event())
    store.abort("1", record.id)
    kept = store.finish("1", record.id, finished_outcome())
    assert kept.workflow_state is WorkflowState.ABORTED
    assert (kept.outcome, kept.ended_at, kept.errors_file) == (None, None, None)


def test_abort_all_pending_leaves_running_imports() -> None:
    store = ImportStore(["1"], 0.0)
    running = store.create("1", ImportOptions(), UPLOAD)
    store.claim_next("1", threading.Event())
    pending = [store.create("1", ImportOptions(), UPLOAD).id for _ in range(2)]
    store.abort_all_pending("1")
    states = {r.id: (r.workflow_state, r.progress) for r in store.all("1")}
    assert states[running.id] == (WorkflowState.IMPORTING, 0)
    assert [states[i] for i in pending] == [(WorkflowState.ABORTED, 100)] * 2


def test_hold_ends_early_on_abort_and_cleanup_needs_importing() -> None:
    store = ImportStore(["1"], 0.0)
    record = store.create("1", ImportOptions(), UPLOAD)
    stop = threading.Event()
    store.claim_next("1", stop)
    assert store.hold("1", record.id, 0.01, stop) is True
    threading.Timer(0.05, lambda: store.abort("1", record.id)).start()
    started = time.monotonic()
    assert store.hold("1", record.id, None, stop) is False  # no end but the abort
    assert time.monotonic() - started < 2
    assert store.begin_cleanup("1", record.id) is False


def test_finish_writes_the_error_file_with_a_new_attachment_id() -> None:
    store = ImportStore(["1"], 0.0)
    record = store.create("1", ImportOptions(), UPLOAD)
    store.claim_next("1", threading.Event())
    assert store.begin_cleanup("1", record.id) is True
    cleaning = store.get("1", record.id)
    assert cleaning is not None
    assert cleaning.workflow_state is WorkflowState.CLEANUP_BATCH
    done = store.finish("1", record.id, finished_outcome())
    assert done.errors_file is not None
    assert done.errors_file.attachment_id == record.attachment_id + 1
    assert done.errors_file.content.startswith(b"sis_import_id,file,message,row\n")
    assert store.errors_file(done.errors_file.attachment_id) == ("1", done.errors_file)
    assert store.errors_file(record.attachment_id) is None
