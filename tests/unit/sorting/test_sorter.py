"""The sorter runner with a real store and custody (each on both backends): merges that
would change the kind are not made, and one batch that cannot be sealed holds itself without
stopping the others."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.settings import ConfigError
from gateway.settings_files import settings_from_mapping
from gateway.sorting.forming import UngatedIntake
from gateway.sorting.sorter import SEAL_ATTEMPTS, Sorter
from gateway.state.custody import Custody, PayloadKey
from gateway.state.spool import Spool
from gateway.state.states import BatchState, NoticeKind, NoticeState, UploadState
from gateway.state.store import Store
from tests.institution_records import institution
from tests.unit.history import received


def _sorter(store: Store, custody: Custody) -> Sorter:
    institutions = {name: institution(name) for name in ("alpha", "beta")}
    return Sorter(store=store, custody=custody, institutions=lambda: institutions,
                  quiet_seconds=0, on_ready=lambda: None)


def test_courses_whose_merged_header_reads_as_terms_are_sent_side_by_side(
        store: Store, custody: Custody) -> None:
    received(store, custody, "alpha", "courses.csv",
             b"course_id,short_name,long_name,term_id,status\nC1,C1,One,T1,active\n")
    received(store, custody, "alpha", "courses2.csv",
             b"course_id,short_name,long_name,status,name\nC2,C2,Two,active,x\n")
    _sorter(store, custody).run_round()
    [batch] = store.batches()
    assert batch.state is BatchState.READY
    with custody.local_path(PayloadKey.batch_zip(batch.id)) as path, \
            zipfile.ZipFile(path) as sent:
        # Named for the batch's first attempt, so Canvas's file list identifies it.
        assert sent.namelist() == ["b000001-a1-courses.csv", "b000001-a1-courses2.csv"]


def test_one_unsealable_batch_is_held_and_the_others_go_on(store: Store, custody: Custody) -> None:
    # An accepted upload whose bytes vanished from the spool (a disk fault): unsealable.
    with store.transaction() as txn:
        broken = txn.record_upload("alpha", "users.csv", 10, "0" * 64)
        batch_id = txn.create_batch("alpha")
        txn.move("upload", broken, UploadState.RECEIVED, UploadState.ACCEPTED,
                 batch_id=batch_id, kind="user", rows=1)
    received(store, custody, "beta", "users.csv")
    sorter = _sorter(store, custody)
    for _ in range(SEAL_ATTEMPTS):
        sorter.run_round()
    held = store.batch(batch_id)
    assert held.state is BatchState.HELD
    assert "could not be prepared for Canvas" in (held.reason or "")
    assert "gateway release alpha" in (held.reason or "")
    assert "/spool/" not in (held.reason or "")  # the sender reads it: no paths
    alert = next(n for n in store.notices() if n.kind == NoticeKind.GATEWAY_ERROR)
    assert alert.batch_id == batch_id
    assert "PayloadMissingError: payload uploads/00000001" in (alert.reason or "")
    assert [b.state for b in store.batches(institution="beta")] == [BatchState.READY]
    assert any(n.batch_id == batch_id and n.batch_state is BatchState.HELD
               for n in store.notices(state=NoticeState.PENDING))


def test_failure_class_codes_cannot_be_allowed() -> None:
    with pytest.raises(ConfigError, match="only warning codes can be allowed"):
        settings_from_mapping({"institutions": {"alpha": {
            "password_hash": "$argon2id$x", "canvas": {"base_url": "https://c.example"},
            "sorting": {"allow": ["invalid_utf8"]}}}}, source="t", environ={})


def test_a_rejected_upload_is_one_warning_with_its_ids_and_reason(
        store: Store, custody: Custody, caplog: pytest.LogCaptureFixture) -> None:
    rejected = received(store, custody, "alpha", "users.csv", b"\xff\xfe not a csv at all\n")
    with caplog.at_level(logging.INFO, logger="gateway.sorting.sorter"):
        _sorter(store, custody).run_round()
    assert store.upload(rejected).state is UploadState.REJECTED
    [line] = [r for r in caplog.records if r.getMessage() == "upload rejected"]
    assert line.levelno == logging.WARNING
    fields = vars(line)
    assert (fields["institution"], fields["upload_id"], fields["file"]) == (
        "alpha", rejected, "users.csv")
    assert fields["batch_id"] == store.upload(rejected).batch_id
    assert fields["reason"] == store.upload(rejected).problem
    assert fields["reason"]


class _SlowAlpha(UngatedIntake):
    """Forming alpha's delivery lasts until beta's batch is READY (at most 30 s): beta must
    be sorted while alpha is still at work."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.beta_was_ready = False

    @contextlib.contextmanager
    def forming(self, institution: str) -> Iterator[None]:
        if institution == "alpha":
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self.beta_was_ready:
                self.beta_was_ready = [b.state for b in self._store.batches(
                    institution="beta")] == [BatchState.READY]
                time.sleep(0.05)
        yield


def test_institutions_are_sorted_side_by_side(store: Store, custody: Custody) -> None:
    received(store, custody, "alpha", "users.csv")
    received(store, custody, "beta", "users.csv")
    intake = _SlowAlpha(store)
    institutions = {name: institution(name) for name in ("alpha", "beta")}
    sorter = Sorter(store=store, custody=custody, institutions=lambda: institutions,
                    quiet_seconds=0, on_ready=lambda: None, intake=intake, workers=2)
    assert sorter.run_round()
    assert intake.beta_was_ready  # beta's batch did not wait for alpha's forming
    assert sorted(b.state for b in store.batches()) == [BatchState.READY] * 2


class _GatedAlpha(UngatedIntake):
    """Forming alpha's delivery waits until the test opens the gate."""

    def __init__(self) -> None:
        self.alpha_started = threading.Event()
        self.gate = threading.Event()

    @contextlib.contextmanager
    def forming(self, institution: str) -> Iterator[None]:
        if institution == "alpha":
            self.alpha_started.set()
            self.gate.wait(30)
        yield


def test_closing_with_rounds_still_queued_logs_no_error(
        store: Store, custody: Custody, caplog: pytest.LogCaptureFixture) -> None:
    received(store, custody, "alpha", "users.csv")
    received(store, custody, "beta", "users.csv")
    intake = _GatedAlpha()
    institutions = {name: institution(name) for name in ("alpha", "beta")}
    sorter = Sorter(store=store, custody=custody, institutions=lambda: institutions,
                    quiet_seconds=0, on_ready=lambda: None, intake=intake, workers=1)
    sorter.step()  # alpha's round runs (gated); beta's waits behind it in the one thread
    assert intake.alpha_started.wait(10)
    with caplog.at_level(logging.DEBUG):
        closing = threading.Thread(target=sorter.close)
        closing.start()
        deadline = time.monotonic() + 10  # close() cancels beta's queued round first
        while "beta" in sorter._busy and time.monotonic() < deadline:
            time.sleep(0.01)
        intake.gate.set()
        closing.join(10)
        sorter.drain()  # a cancelled round counts as idle: returns, raises nothing
    assert not closing.is_alive()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [b.state for b in store.batches(institution="alpha")] == [BatchState.READY]
    assert store.batches(institution="beta") == []  # beta's round never ran


def test_validation_and_the_zip_go_through_every_custody(
        store: Store, spool: Spool, custody: Custody, tmp_path: Path) -> None:
    users = b"user_id,login_id,status\nu1,l1,active\n"
    with zipfile.ZipFile(tmp_path / "delivery.zip", "w") as delivery:
        delivery.writestr("users.csv", users)
        delivery.writestr("courses.csv", "course_id,short_name,long_name,status\n"
                                         "C1,C1,One,active\n")
    body = (tmp_path / "delivery.zip").read_bytes()
    with store.transaction() as txn:
        txn.record_upload("alpha", "delivery.zip", len(body), "0" * 64, payload="r-zip")
    custody.put(PayloadKey.received("zip"), body)
    sorter = Sorter(store=store, custody=custody,
                    institutions=lambda: {"alpha": institution("alpha")},
                    quiet_seconds=0, on_ready=lambda: None)

    sorter.run_round()

    [batch] = store.batches()
    assert batch.state is BatchState.READY
    with custody.local_path(PayloadKey.batch_zip(batch.id)) as path, \
            zipfile.ZipFile(path) as sent:
        assert sorted(sent.namelist()) == ["b000001-a1-courses.csv", "b000001-a1-users.csv"]
        assert sent.read("b000001-a1-users.csv") == users
    assert not any((spool.root / "scratch").glob("*"))  # scratch copies are removed
