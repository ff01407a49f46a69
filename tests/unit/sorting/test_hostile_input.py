"""Hostile and careless uploads stay with the upload they concern: the zips that once stalled
an institution are refused with a reason, a file the checks fail on is rejected with an ops
alert, a delivery that cannot be formed sets its oldest upload aside, and a seeded fuzz of
mutated zips ends every time in a verdict, never an exception."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.ops.operator import OperatorError, reject_upload
from gateway.sorting import sorter as sorter_module
from gateway.sorting.delivery import PlannedBatch, plan_delivery
from gateway.sorting.sorter import FORM_ATTEMPTS, Sorter
from gateway.sorting.validation import uploads as uploads_module
from gateway.sorting.validation import validate_upload
from gateway.sorting.validation import zips as zips_module
from gateway.sorting.validation.findings import BlockingPolicy, Code
from gateway.sorting.validation.zips import ZipVerdict
from gateway.state.custody import Custody, PayloadKey
from gateway.state.records import UploadRecord
from gateway.state.states import BatchState, NoticeKind, UploadState
from gateway.state.store import Store
from tests.hostile_files import (
    EMPTY_DELIVERIES,
    STALLERS,
    ZIP_PASSWORD,
    csv_mutants,
    mutants,
)
from tests.institution_records import institution
from tests.unit.history import received
from tests.unit.sorting.files import zip_bytes

GOOD = b"user_id,login_id,status\nu1,l1,active\n"
FUZZ_CASES = 1500
CLI_FUZZ_CASES = 150


def _sorter(store: Store, custody: Custody) -> Sorter:
    alpha = institution("alpha", zip_password=SecretStr(ZIP_PASSWORD.decode()))
    return Sorter(store=store, custody=custody, institutions=lambda: {"alpha": alpha},
                  quiet_seconds=0, on_ready=lambda: None)


def _codes(verdict: object) -> set[Code]:
    found = {f.code for f in getattr(verdict, "findings", ())}
    for member in getattr(verdict, "members", ()):
        found |= {f.code for f in member.findings}
    return found


@pytest.mark.parametrize("name", sorted(STALLERS))
def test_each_zip_that_stalled_an_institution_is_refused_with_a_reason(
        tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(STALLERS[name]())
    verdict = validate_upload(path, name, password=ZIP_PASSWORD)
    assert isinstance(verdict, ZipVerdict)
    assert verdict.blocked(BlockingPolicy())
    assert _codes(verdict) & {Code.ZIP_CORRUPT, Code.ZIP_UNSAFE_PATH}
    assert Code.CHECK_FAILED not in _codes(verdict)  # handled as the zip's fault, by kind


def test_an_upload_the_checks_fail_on_is_rejected_and_ops_alerted(
        store: Store, custody: Custody, monkeypatch: pytest.MonkeyPatch) -> None:
    real = uploads_module._validate

    def failing(path: Path, display_name: str, **kwargs: object) -> object:
        if display_name == "poison.csv":
            raise RuntimeError("a bug in a check")
        return real(path, display_name, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(uploads_module, "_validate", failing)
    poison = received(store, custody, "alpha", "poison.csv", GOOD)
    good = received(store, custody, "alpha", "users.csv", GOOD)
    _sorter(store, custody).run_round()
    assert store.upload(poison).state is UploadState.REJECTED
    assert "could not check this file (RuntimeError)" in (store.upload(poison).problem or "")
    assert store.upload(good).state is UploadState.ACCEPTED
    [alert] = [n for n in store.notices() if n.kind == NoticeKind.GATEWAY_ERROR]
    assert f"upload {poison}" in (alert.reason or "")


def test_a_policy_cannot_allow_a_file_the_checks_failed_on() -> None:
    policy = BlockingPolicy.from_names(allow=["check_failed", "zip_corrupt"])
    assert policy.blocks_code(Code.CHECK_FAILED)
    assert not policy.blocks_code(Code.ZIP_CORRUPT)


def test_a_delivery_that_cannot_be_formed_sets_its_oldest_upload_aside(
        store: Store, custody: Custody, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    _poisoned_planning(monkeypatch)
    poison = received(store, custody, "alpha", "poison.csv", GOOD)
    later = received(store, custody, "alpha", "users.csv", GOOD)
    sorter = _sorter(store, custody)
    with caplog.at_level(logging.WARNING):
        for _ in range(FORM_ATTEMPTS):
            sorter.run_round()
    assert store.upload(poison).state is UploadState.REJECTED
    assert "failed while forming a batch with this file (ValueError)" in \
        (store.upload(poison).problem or "")
    assert sum(1 for r in caplog.records if r.exc_info) == 1  # one traceback, not one a round
    assert store.upload(later).state is UploadState.RECEIVED
    sorter.run_round()
    assert store.upload(later).state is UploadState.ACCEPTED
    kinds = [n.kind for n in store.notices()]
    assert NoticeKind.GATEWAY_ERROR in kinds
    states = {b.id: b.state for b in store.batches()}
    assert states[store.upload(poison).batch_id or 0] is BatchState.REJECTED


@pytest.mark.parametrize("name", sorted(EMPTY_DELIVERIES))
def test_an_empty_delivery_is_rejected_with_the_reason_not_posted(
        store: Store, custody: Custody, name: str) -> None:
    upload = received(store, custody, "alpha", name, EMPTY_DELIVERIES[name]())
    _sorter(store, custody).run_round()
    record = store.upload(upload)
    assert record.state is UploadState.REJECTED
    assert "holds no CSV file Canvas would import" in (record.problem or "")
    [batch] = store.batches()
    assert batch.state is BatchState.REJECTED
    assert custody.size(PayloadKey.batch_zip(batch.id)) is None


def test_batches_are_numbered_per_institution(store: Store, custody: Custody) -> None:
    with store.transaction() as txn:
        ids = [txn.create_batch(name) for name in ("alpha", "beta", "alpha", "beta", "alpha")]
    numbers = [(store.batch(i).institution, store.batch(i).reference) for i in ids]
    assert numbers == [("alpha", "batch-000001"), ("beta", "batch-000001"),
                       ("alpha", "batch-000002"), ("beta", "batch-000002"),
                       ("alpha", "batch-000003")]


def test_an_operator_rejects_a_waiting_upload_with_a_reason(store: Store,
                                                            custody: Custody) -> None:
    upload = received(store, custody, "alpha", "users.csv", GOOD)
    with pytest.raises(OperatorError, match="say why"):
        reject_upload(store, upload, "  ")
    batch_id = reject_upload(store, upload, "sent to the wrong institution")
    record = store.upload(upload)
    assert record.state is UploadState.REJECTED
    assert record.batch_id == batch_id
    assert "rejected by the gateway's operator: sent to the wrong institution" in \
        (record.problem or "")
    _sorter(store, custody).run_round()  # the sorter ends it and reports it to the sender
    assert store.batch(batch_id).state is BatchState.REJECTED
    assert any(n.batch_id == batch_id and n.batch_state is BatchState.REJECTED
               for n in store.notices())
    with pytest.raises(OperatorError, match="no longer waiting"):
        reject_upload(store, upload, "again")
    with pytest.raises(OperatorError, match="there is no upload 999"):
        reject_upload(store, 999, "why")


def test_gateway_validate_never_crashes_on_the_stalling_zips(tmp_path: Path) -> None:
    paths = []
    for name, build in STALLERS.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(build())
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "validate", "--json", "--zip-password-env",
         "FUZZ_ZIP_PASSWORD", *map(str, paths)], capture_output=True, text=True,
        env={"FUZZ_ZIP_PASSWORD": ZIP_PASSWORD.decode(), "PATH": "/usr/bin:/bin"},
        check=False)
    assert done.returncode == 1, done.stderr  # findings block; not a crash (which is 1 too)
    assert "Traceback" not in done.stderr
    assert '"blocked": true' in done.stdout


def test_seeded_fuzz_of_mutated_zips_always_ends_in_a_verdict(tmp_path: Path) -> None:
    """Every mutant is validated without an exception and without the generic guard: each
    zip library error is handled as the zip's own finding."""
    path = tmp_path / "mutant.zip"
    blocked = 0
    for number, data in enumerate(mutants(FUZZ_CASES, seed=20261201)):
        path.write_bytes(data)
        verdict = uploads_module._validate(path, "mutant.zip", password=ZIP_PASSWORD,
                                           limits=None, options=None, on_progress=None)
        assert Code.CHECK_FAILED not in _codes(verdict), number
        blocked += verdict.blocked(BlockingPolicy())
    assert blocked > FUZZ_CASES // 2  # the mutator does damage: most are refused


def test_seeded_fuzz_of_mutated_csvs_always_ends_in_a_verdict(tmp_path: Path) -> None:
    path = tmp_path / "mutant.csv"
    refused = 0
    for number, data in enumerate(csv_mutants(FUZZ_CASES, seed=20261202)):
        path.write_bytes(data)
        verdict = uploads_module._validate(path, "mutant.csv", password=None, limits=None,
                                           options=None, on_progress=None)
        assert Code.CHECK_FAILED not in _codes(verdict), number
        assert verdict.failure_class or getattr(verdict, "kind", None) is not None, number
        refused += verdict.failure_class
    assert 0 < refused < FUZZ_CASES  # the mutator makes both kinds


def test_gateway_validate_takes_a_fuzzed_batch_without_a_traceback(tmp_path: Path) -> None:
    files = {f"m{n:03d}.zip": data for n, data in enumerate(mutants(CLI_FUZZ_CASES, seed=3))}
    files |= {f"m{n:03d}.csv": data for n, data in enumerate(csv_mutants(CLI_FUZZ_CASES, 4))}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "validate", "--json", *sorted(files)],
        capture_output=True, text=True, cwd=tmp_path, check=False)
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)  # one whole document: the command finished
    assert done.returncode == (1 if report["blocked"] else 0)
    assert "check_failed" not in done.stdout


def test_a_bug_in_the_checks_of_a_zip_member_is_check_failed_not_a_damaged_zip(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zip library's errors are caught around its own calls only: the same KeyError
    from the gateway's CSV checks is a bug (ops alerted), never blamed on the sender's zip."""
    def failing(*args: object, **kwargs: object) -> object:
        raise KeyError("a bug in a row rule")

    monkeypatch.setattr(zips_module, "validate_source", failing)
    path = tmp_path / "users.zip"
    path.write_bytes(zip_bytes({"users.csv": GOOD}))
    verdict = validate_upload(path, "users.zip")
    assert _codes(verdict) == {Code.CHECK_FAILED}


def _poisoned_planning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning fails whenever the delivery holds ``poison.csv`` (a bug such a file hits)."""
    def failing(pending: Sequence[UploadRecord], *args: Any,
                **kwargs: Any) -> list[PlannedBatch]:
        if any(u.filename == "poison.csv" for u in pending):
            raise ValueError("a bug in planning")
        return plan_delivery(pending, *args, **kwargs)

    monkeypatch.setattr(sorter_module, "plan_delivery", failing)


def test_only_the_upload_that_fails_alone_is_set_aside_never_an_honest_one(
        store: Store, custody: Custody, monkeypatch: pytest.MonkeyPatch) -> None:
    _poisoned_planning(monkeypatch)
    first = received(store, custody, "alpha", "users.csv", GOOD)
    poison = received(store, custody, "alpha", "poison.csv", GOOD)
    last = received(store, custody, "alpha", "courses.csv",
                    b"course_id,short_name,long_name,status\nC1,C1,One,active\n")
    sorter = _sorter(store, custody)
    for _ in range(2 * FORM_ATTEMPTS + 1):
        sorter.run_round()
    states = {u: store.upload(u).state for u in (first, poison, last)}
    assert states == {first: UploadState.ACCEPTED, poison: UploadState.REJECTED,
                      last: UploadState.ACCEPTED}
    # Order kept: the honest upload before the poison formed the first batch, alone.
    assert (store.upload(first).batch_id or 0) < (store.upload(poison).batch_id or 0) \
        < (store.upload(last).batch_id or 0)


def test_a_fault_of_the_whole_institution_rejects_nothing_and_pauses(
        store: Store, custody: Custody, monkeypatch: pytest.MonkeyPatch) -> None:
    sorter = _sorter(store, custody)

    def unreadable(institution: str) -> dict[int, str]:
        raise OSError("the intake's marks file is unreadable")

    monkeypatch.setattr(sorter._intake, "refused", unreadable)
    uploads = [received(store, custody, "alpha", name, GOOD) for name in ("a.csv", "b.csv")]
    for _ in range(FORM_ATTEMPTS + 2):
        sorter.run_round()
    assert [store.upload(u).state for u in uploads] == [UploadState.RECEIVED] * 2
    assert store.batches() == []
    assert sorter._form_paused["alpha"] > 0  # paused, not retried every round
