"""What an operator can do to a stopped queue: release, requeue or skip a batch; and reject
a received upload that has not gone into a batch yet.

Each action is one compare-and-set transition, safe while the daemon runs: if the daemon
moved the batch in the meantime the action fails with a clear message and changes nothing.
The transition log records who did it ("operator: ...").
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.sorting.identity import attempt_prefix
from gateway.sorting.options import GUARD_PREFIX
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool
from gateway.state.states import (
    FINISHED_BATCH_STATES,
    BatchState,
    TransitionError,
    UploadState,
)

STOPPED = frozenset({BatchState.HELD, BatchState.FAILED})
OPERATOR_HOLD = "operator: "
"""How the reason of a batch parked with ``gateway hold BATCH`` starts."""


def parked_by_operator(batch: BatchRecord) -> bool:
    """Whether an operator parked ``batch`` on purpose (``gateway hold BATCH``): only
    ``gateway release BATCH`` lets it go, never a release of its whole institution."""
    return batch.state is BatchState.HELD and (batch.reason or "").startswith(OPERATOR_HOLD)


class OperatorError(Exception):
    """The action does not apply; the message says why and what would."""


def no_such(kind: str, name: object, configured: Sequence[str] | None = None) -> OperatorError:
    """The one wording every command uses for a name it does not know: ``there is no batch
    7``, ``there is no institution 'x' (configured: a, b)``."""
    shown = repr(name) if isinstance(name, str) else str(name)
    known = "" if configured is None else f" (configured: {', '.join(configured) or 'none'})"
    return OperatorError(f"there is no {kind} {shown}{known}")


def check_institution(store: StateStore, name: str, configured: Sequence[str]) -> None:
    """Raise :func:`no_such` unless ``name`` is configured or has batches in the store."""
    if name not in configured and not store.batches(institution=name):
        raise no_such("institution", name, configured)


def batch_by_id(store: StateStore, batch_id: int) -> BatchRecord:
    """A batch by id; raises :func:`no_such` when there is none."""
    try:
        return store.batch(batch_id)
    except KeyError:
        raise no_such("batch", batch_id) from None


def find_target(store: StateStore, target: str, configured: Sequence[str]) -> BatchRecord:
    """A batch by id, or the batch stopping an institution's queue (by institution name)."""
    if target.isdigit():
        return batch_by_id(store, int(target))
    check_institution(store, target, configured)
    head = store.head_batch(target, FINISHED_BATCH_STATES)
    if head is None or head.state not in STOPPED:
        raise OperatorError(f"institution {target!r} has no held or failed batch")
    return head


def release(store: StateStore, spool: Spool, batch: BatchRecord) -> BatchState:
    """Let the queue go on: a HELD batch resumes where it stopped; a FAILED one is set aside
    (its failure accepted) so the batches after it proceed.  Returns the new state."""
    if batch.state is BatchState.FAILED:
        return _move(store, batch, BatchState.SKIPPED, "operator: failure accepted, queue released")
    if batch.state is not BatchState.HELD:
        raise OperatorError(f"batch {batch.id} is {batch.state}, not held or failed")
    if batch.import_id is None and store.held_from(batch.id) is BatchState.SUBMITTING:
        # Releasing would post again: only a person who has looked at Canvas may decide.
        raise OperatorError(
            f"batch {batch.id} was held while being sent, so Canvas may already have it. "
            f"Check the account's SIS imports in Canvas (files named "
            f"{attempt_prefix(batch.id, max(batch.attempts, 1))}*.csv; `gateway show "
            f"{batch.id}` lists what Canvas showed), then `gateway requeue {batch.id}` to "
            f"send it again, or `gateway skip {batch.id}` if Canvas has it")
    acknowledged = (batch.reason or "").startswith(GUARD_PREFIX)
    return _move(store, batch, _resume_state(spool, batch), "operator: released",
                 **({"guard_ack": 1} if acknowledged else {}))


def requeue(store: StateStore, spool: Spool, batch: BatchRecord) -> BatchState:
    """Send a HELD or FAILED batch to Canvas again, as a new import."""
    if batch.state not in STOPPED:
        raise OperatorError(f"batch {batch.id} is {batch.state}; only held or failed batches "
                            "can be requeued")
    new = BatchState.READY if spool.batch_zip_path(batch.id).exists() else BatchState.OPEN
    return _move(store, batch, new, "operator: requeued", import_id=None)


def skip(store: StateStore, batch: BatchRecord) -> BatchState:
    """Never send this batch; the batches after it proceed."""
    if batch.state not in STOPPED | {BatchState.READY}:
        raise OperatorError(f"batch {batch.id} is {batch.state}; only ready, held or failed "
                            "batches can be skipped")
    return _move(store, batch, BatchState.SKIPPED, "operator: skipped")


def reject_upload(store: StateStore, upload_id: int, reason: str) -> int:
    """Reject a RECEIVED upload with ``reason``: it goes alone into a batch of its own, which
    the sorter ends as REJECTED with a report to the sender naming the reason; nothing of it
    reaches Canvas.  Returns that batch's id.  Refused once the sorter has put the upload
    into a batch (then act on the batch: ``hold`` or ``skip``)."""
    if not reason.strip():
        raise OperatorError("say why the upload is rejected (--reason): the sender reads it")
    try:
        upload = store.upload(upload_id)
    except KeyError:
        raise no_such("upload", upload_id) from None
    if upload.state is not UploadState.RECEIVED:
        raise OperatorError(_not_waiting(upload.id, upload.state, upload.batch_id))
    problem = f"{upload.filename}: rejected by the gateway's operator: {reason.strip()}"
    try:
        with store.transaction() as txn:
            batch_id = txn.reject_alone(upload.id, institution=upload.institution,
                                        reason=f"operator: {reason.strip()}", problem=problem)
    except TransitionError:
        moved = store.upload(upload_id)
        raise OperatorError(_not_waiting(moved.id, moved.state, moved.batch_id)) from None
    return batch_id


def _not_waiting(upload_id: int, state: UploadState, batch_id: int | None) -> str:
    return (f"upload {upload_id} is {state} in batch {batch_id}, no longer waiting; "
            f"`gateway hold {batch_id}` or `gateway skip {batch_id}` act on its batch")


def _resume_state(spool: Spool, batch: BatchRecord) -> BatchState:
    if batch.import_id is not None:
        return BatchState.IMPORTING  # Canvas has it: follow it to its end
    if spool.batch_zip_path(batch.id).exists():
        return BatchState.READY
    return BatchState.OPEN  # held before its zip was built: build it first


def _move(store: StateStore, batch: BatchRecord, new: BatchState, reason: str,
          **fields: object) -> BatchState:
    try:
        with store.transaction() as txn:
            txn.move("batch", batch.id, batch.state, new, reason=reason,
                     next_attempt_at=txn.now, **fields)
    except TransitionError as error:
        raise OperatorError(f"batch {batch.id} changed meanwhile ({error}); look again with "
                            "`gateway status`") from None
    return new
