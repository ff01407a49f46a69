"""Operator actions on stopped queues: release, requeue, skip; each a safe compare-and-set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.ops.cli import main
from gateway.ops.operator import OperatorError, find_target, release, requeue, skip
from gateway.sorting.options import GUARD_PREFIX
from gateway.state.custody import Custody, PayloadKey
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool
from gateway.state.states import BatchState
from gateway.state.store import Store


def _batch_in(store: Store, custody: Custody, path: list[BatchState], *, zip_built: bool = True,
              **fields: Any) -> int:
    with store.transaction() as txn:
        batch_id = txn.create_batch("alpha")
        current = BatchState.OPEN
        for state in path:
            txn.move("batch", batch_id, current, state, **(fields if state is path[-1] else {}))
            current = state
    if zip_built:
        custody.put(PayloadKey.batch_zip(batch_id), b"PK")
    return batch_id


def test_release_resumes_a_held_import_by_following_it(store: Store, custody: Custody) -> None:
    held = _batch_in(store, custody, [BatchState.READY, BatchState.SUBMITTING,
                                    BatchState.IMPORTING, BatchState.HELD])
    with store.transaction() as txn:
        txn.update("batch", held, BatchState.HELD, import_id=7)
    assert release(store, custody, store.batch(held)) is BatchState.IMPORTING


def test_release_of_a_batch_held_before_its_zip_rebuilds_it(store: Store, custody: Custody) -> None:
    held = _batch_in(store, custody, [BatchState.HELD], zip_built=False)
    assert release(store, custody, store.batch(held)) is BatchState.OPEN


def test_release_by_institution_sets_a_failure_aside(store: Store, custody: Custody) -> None:
    failed = _batch_in(store, custody, [BatchState.READY, BatchState.SUBMITTING,
                                      BatchState.IMPORTING, BatchState.FAILED])
    later = _batch_in(store, custody, [BatchState.READY])
    target = find_target(store, "alpha", ["alpha"])
    assert target.id == failed
    assert release(store, custody, target) is BatchState.SKIPPED
    head = store.head_batch("alpha", frozenset({BatchState.SKIPPED}))
    assert head is not None
    assert head.id == later


def test_requeue_sends_a_failed_batch_again(store: Store, custody: Custody) -> None:
    failed = _batch_in(store, custody, [BatchState.READY, BatchState.SUBMITTING,
                                      BatchState.IMPORTING, BatchState.FAILED], import_id=3)
    assert requeue(store, custody, store.batch(failed)) is BatchState.READY
    assert store.batch(failed).import_id is None


def test_actions_refuse_batches_that_are_not_stopped(store: Store, custody: Custody) -> None:
    importing = _batch_in(store, custody, [BatchState.READY, BatchState.SUBMITTING,
                                         BatchState.IMPORTING])
    actions: list[Callable[[BatchRecord], BatchState]] = [
        lambda b: release(store, custody,
                          b), lambda b: requeue(store, custody, b),
        lambda b: skip(store, b)]
    for action in actions:
        with pytest.raises(OperatorError, match="importing"):
            action(store.batch(importing))
    with pytest.raises(OperatorError, match="no held or failed batch"):
        find_target(store, "alpha", ["alpha"])


def test_a_stale_view_changes_nothing(store: Store, custody: Custody) -> None:
    held = _batch_in(store, custody, [BatchState.HELD])
    stale = store.batch(held)
    skip(store, stale)
    with pytest.raises(OperatorError, match="changed meanwhile"):
        release(store, custody, stale)
    assert store.batch(held).state is BatchState.SKIPPED


@pytest.mark.usefixtures("commands_custody")  # the CLI opens the data dir's
def test_cli_skip_and_errors(commands_store: Store, custody: Custody, spool: Spool,
                             capsys: pytest.CaptureFixture[str]) -> None:
    store = commands_store
    held = _batch_in(store, custody, [BatchState.HELD])
    assert main(["skip", str(held), "--data", str(spool.root)]) == 0
    assert "held -> skipped" in capsys.readouterr().out
    assert main(["release", "alpha", "--data", str(spool.root)]) == 1
    assert "no held or failed batch" in capsys.readouterr().err


def test_release_refuses_a_batch_held_mid_post_and_says_what_to_do(store: Store,
                                                                    custody: Custody) -> None:
    held = _batch_in(store, custody, [BatchState.READY, BatchState.SUBMITTING, BatchState.HELD])
    with pytest.raises(OperatorError, match=f"gateway requeue {held}"):
        release(store, custody, store.batch(held))
    assert requeue(store, custody, store.batch(held)) is BatchState.READY


def test_releasing_a_guard_hold_acknowledges_the_guard_and_only_that(store: Store,
                                                                      custody: Custody) -> None:
    guarded = _batch_in(store, custody, [BatchState.READY, BatchState.HELD],
                        reason=GUARD_PREFIX + "row counts fell sharply")
    other = _batch_in(store, custody, [BatchState.READY, BatchState.HELD], reason="Canvas 401")
    assert release(store, custody, store.batch(guarded)) is BatchState.READY
    assert release(store, custody, store.batch(other)) is BatchState.READY
    assert store.batch(guarded).guard_ack
    assert not store.batch(other).guard_ack
