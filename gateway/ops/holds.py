"""Holding a queue on purpose (``gateway hold``): a whole institution, or one batch.

An *institution hold* stops posting: the institution's next batch waits, while uploads are
still received and batched and an import already under way is followed to its end and
reported (stopping it would only hide its outcome).  A *batch hold* parks one batch that has
not been sent (open, ready or deferred); the batches after it wait too, since a queue never
overtakes its head.  ``gateway release INSTITUTION`` lifts either.

Both are safe while the daemon runs: a batch hold is one compare-and-set, so if the
forwarder took the batch meanwhile the hold fails with a message and changes nothing; a
batch being posted cannot be held (that would lose the import id the POST returns).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.ops.operator import (
    OPERATOR_HOLD,
    STOPPED,
    OperatorError,
    check_institution,
    parked_by_operator,
    release,
)
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, TransitionError

HOLDABLE = frozenset({BatchState.OPEN, BatchState.READY, BatchState.DEFERRED})
"""Batch states an operator may hold: not yet sent to Canvas."""


def hold_institution(store: StateStore, institution: str, reason: str,
                     configured: Sequence[str]) -> None:
    """Stop an institution's queue.  Raises OperatorError for an unknown institution or one
    already held."""
    check_institution(store, institution, configured)
    with store.transaction() as txn:
        if not txn.hold_institution(institution, reason):
            raise OperatorError(f"institution {institution!r} is already held "
                                f"({store.institution_holds()[institution].reason})")


def hold_batch(store: StateStore, batch: BatchRecord, reason: str) -> BatchState:
    """Park a batch not yet sent; returns HELD.  Raises OperatorError otherwise."""
    if batch.state not in HOLDABLE:
        raise OperatorError(
            f"batch {batch.id} is {batch.state}; only open, ready or deferred batches can be "
            f"held (to stop what follows an import under way: "
            f"`gateway hold {batch.institution}`)")
    try:
        with store.transaction() as txn:
            txn.move("batch", batch.id, batch.state, BatchState.HELD,
                     reason=f"{OPERATOR_HOLD}{reason}")
    except TransitionError as error:
        raise OperatorError(f"batch {batch.id} changed meanwhile ({error}); look again with "
                            "`gateway status`") from None
    return BatchState.HELD


def release_institution(store: StateStore, spool: Spool, institution: str,
                        configured: Sequence[str]) -> list[str]:
    """Let an institution's queue go on: lift its hold and release its stopped head batch,
    whichever apply, but never a batch an operator parked one by one (``gateway hold
    BATCH``): those stay held, head or not, and a line names each.  Returns one line per
    thing done or left; raises OperatorError for an unknown institution, if nothing
    applied, or if the head batch may not be released (the hold is lifted all the same)."""
    check_institution(store, institution, configured)
    with store.transaction() as txn:
        lifted = txn.release_institution(institution)
    done = [f"institution {institution}: hold lifted"] if lifted else []
    head = store.head_batch(institution, FINISHED_BATCH_STATES)
    if head is not None and head.state in STOPPED and not parked_by_operator(head):
        try:
            new = release(store, spool, head)
        except OperatorError as error:
            raise OperatorError("; ".join([*done, str(error)])) from None
        done.append(f"batch {head.id} ({institution}): {head.state} -> {new}")
    kept = [f"batch {batch.id} ({institution}) stays held: parked with `gateway hold "
            f"{batch.id}` ({batch.reason}); `gateway release {batch.id}` lets it go"
            for batch in store.batches(institution=institution, state=BatchState.HELD)
            if parked_by_operator(batch)]
    if not done:
        nothing = "" if kept else " and has no held or failed batch"
        raise OperatorError("; ".join([f"institution {institution!r} is not held{nothing}",
                                       *kept]))
    return [*done, *kept]
