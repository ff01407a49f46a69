"""The store hands out one import at a time per account, oldest first, and keeps files."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gateway.sandbox import CanvasSandbox
from gateway.sandbox.batchdata import final_data
from gateway.sandbox.journal import SqliteJournal
from gateway.sandbox.processing import process_upload
from gateway.sandbox.records import ImportOptions, Outcome, UploadedFile, WorkflowState
from gateway.sandbox.store import ImportStore
from gateway.sandbox.unpack import BatchFile

UPLOAD = UploadedFile("users.csv", "text/csv", b"user_id,login_id,status\nu,l,active\n")


def finish(store: ImportStore, import_id: int, outcome: Outcome) -> None:
    store.finish("1", import_id, outcome, final_data((), outcome))


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
    done = store.finish("1", first.id, outcome, final_data((), outcome))
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
    # Each upload is an attachment too: ids come from another sequence.
    assert [r.attachment_id for r in store.all("1")] == [1, 3]
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
    finish(store, created.id, finished_outcome())
    assert store.abort("1", created.id) is None  # finished: 404 at the API
    assert store.abort("1", 999) is None


def test_finish_never_overwrites_an_abort() -> None:
    store = ImportStore(["1"], 0.0)
    record = store.create("1", ImportOptions(), UPLOAD)
    store.claim_next("1", threading.Event())
    store.abort("1", record.id)
    outcome = finished_outcome()
    kept = store.finish("1", record.id, outcome, final_data((), outcome))
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


def test_finish_writes_the_error_file_at_once_without_a_delay() -> None:
    store = ImportStore(["1"], 0.0)
    record = store.create("1", ImportOptions(), UPLOAD)
    store.claim_next("1", threading.Event())
    assert store.begin_cleanup("1", record.id) is True
    cleaning = store.get("1", record.id)
    assert cleaning is not None
    assert cleaning.workflow_state is WorkflowState.CLEANUP_BATCH
    outcome = finished_outcome()
    done = store.finish("1", record.id, outcome, final_data((), outcome))
    assert done.errors_file is not None
    assert done.errors_file.id == record.attachment_id + 1
    assert done.errors_file.display_name == f"sis_errors_attachment_{record.id}.csv"
    assert done.errors_file.filename.startswith(f"{record.id}_processing_warnings_and_errors")
    assert done.errors_file.content_type == "csv"
    assert done.errors_file.content.startswith(b"sis_import_id,file,message,row\n")
    assert store.find_file(done.errors_file.id) == (done, done.errors_file)
    assert store.find_file(record.attachment_id) is None  # the upload is never served


def test_error_file_follows_the_end_after_the_delay() -> None:
    store = ImportStore(["1"], 0.0, errors_file_delay=0.2)
    record = store.create("1", ImportOptions(), UPLOAD)
    stop = threading.Event()
    store.claim_next("1", stop)
    outcome = finished_outcome()
    done = store.finish("1", record.id, outcome, final_data((), outcome))
    assert done.workflow_state is WorkflowState.IMPORTED_WITH_MESSAGES
    assert done.errors_file is None
    assert done.errors_due_at is not None
    started = time.monotonic()
    assert store.next_due_errors_file(stop) == ("1", record.id)
    assert time.monotonic() - started >= 0.15
    written = store.write_errors_file("1", record.id)
    assert written.errors_file is not None
    assert written.updated_at > done.updated_at  # the job's save! bumps updated_at
    assert written.ended_at == done.ended_at
    threading.Timer(0.05, stop.set).start()
    threading.Timer(0.1, store.wake_all).start()
    assert store.next_due_errors_file(stop) is None


def test_attach_files_allocates_ids_once_and_reuses_a_csv_upload() -> None:
    store = ImportStore(["1"], 0.0)
    record = store.create("1", ImportOptions(), UPLOAD)
    files = [
        BatchFile("users.csv", UPLOAD.payload, listed=True, is_upload=True),
        BatchFile("users_filtered.csv", b"user_id\n", listed=True),
        BatchFile("readme.txt", b"hi"),
    ]
    stored = store.attach_files("1", record.id, files)
    assert [f.id for f in stored] == [record.attachment_id, 2, 3]
    assert [f.content_type for f in stored] == ["text/csv", "text/csv", "text/plain"]
    assert store.attach_files("1", record.id, files) == stored  # run again: kept


def test_a_data_dir_keeps_everything_and_resumes_running_imports(tmp_path: Path) -> None:
    store = ImportStore(["1"], 0.0, errors_file_delay=0.3, journal=SqliteJournal(tmp_path))
    failed = store.create("1", ImportOptions(skip_deletes=True), UPLOAD, user_id=7)
    store.claim_next("1", threading.Event())
    outcome = finished_outcome()
    store.finish("1", failed.id, outcome, final_data((), outcome))
    running = store.create("1", ImportOptions(), UPLOAD)
    queued = store.create("1", ImportOptions(), UPLOAD)
    store.claim_next("1", threading.Event())
    store.objects("1").apply(running.id, [])
    store.close()

    again = ImportStore(["1"], 0.0, errors_file_delay=0.0, journal=SqliteJournal(tmp_path))
    assert [r.id for r in again.all("1")] == [failed.id, running.id, queued.id]
    kept = again.get("1", failed.id)
    assert kept == store.get("1", failed.id)
    assert kept is not None
    assert (kept.user_id, kept.options.skip_deletes, kept.upload) == (7, True, UPLOAD)
    stop = threading.Event()
    # The import left importing is handed out again first, as it is.
    resumed = again.claim_next("1", stop)
    assert resumed == store.get("1", running.id)
    # Its error file was not written before the stop; it is still written, when due.
    assert again.next_due_errors_file(stop) == ("1", failed.id)
    written = again.write_errors_file("1", failed.id)
    assert written.errors_file is not None
    assert again.create("1", ImportOptions(), UPLOAD).id == queued.id + 1
    again.close()


def test_a_sandbox_with_bad_settings_releases_its_data_dir(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="other_users"):
        CanvasSandbox(accounts={"1": "t"}, other_users={"x": "9"}, data_dir=tmp_path)
    with pytest.raises(ValueError, match="processing_seconds"):
        CanvasSandbox(accounts={"1": "t"}, processing_seconds=-1, data_dir=tmp_path)
    sandbox = CanvasSandbox(accounts={"1": "t"}, data_dir=tmp_path)  # the dir is usable
    sandbox.stop()
