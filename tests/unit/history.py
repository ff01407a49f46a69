"""Store histories for the operations tests: uploads and batches at known times and states."""

from __future__ import annotations

from gateway.state.custody import Custody, PayloadKey
from gateway.state.local_custody import LocalCustody
from gateway.state.spool import Spool
from gateway.state.states import BatchState, UploadState
from gateway.state.store import Store

TO_IMPORTING = (BatchState.READY, BatchState.SUBMITTING, BatchState.IMPORTING)


class Clock:
    """A clock the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def received(store: Store, payloads: Spool | Custody, institution: str, filename: str,
             body: bytes = b"user_id,login_id,status\nu1,l1,active\n") -> int:
    """A RECEIVED upload with its bytes in ``payloads`` (a custody, or a spool: its local
    custody); returns its id."""
    with store.transaction() as txn:
        upload_id = txn.record_upload(institution, filename, len(body), "0" * 64)
    custody = LocalCustody(payloads) if isinstance(payloads, Spool) else payloads
    custody.put(PayloadKey.upload(upload_id), body)
    return upload_id


def batch_of(store: Store, uploads: list[int], path: tuple[BatchState, ...],
             **last: object) -> int:
    """A batch of ``uploads`` (accepted) moved along ``path``; ``last`` fields go with the
    last move.  Returns the batch id."""
    institution = store.upload(uploads[0]).institution
    with store.transaction() as txn:
        batch_id = txn.create_batch(institution)
        for upload in uploads:
            txn.move("upload", upload, UploadState.RECEIVED, UploadState.ACCEPTED,
                     batch_id=batch_id, kind="user", rows=1)
        current = BatchState.OPEN
        for state in path:
            txn.move("batch", batch_id, current, state,
                     **(last if state is path[-1] else {}))  # type: ignore[arg-type]
            current = state
    return batch_id


def imported(store: Store, payloads: Spool | Custody, clock: Clock, institution: str, *,
             waited: float, processing: float, outcome: BatchState = BatchState.IMPORTED,
             import_id: int = 7) -> int:
    """An upload received, posted ``waited`` s later, ended ``processing`` s after that."""
    upload = received(store, payloads, institution, "users.csv")
    clock.now += waited
    batch_id = batch_of(store, [upload], TO_IMPORTING, import_id=import_id,
                        posted_at=clock.now)
    clock.now += processing
    with store.transaction() as txn:
        txn.move("batch", batch_id, BatchState.IMPORTING, outcome, finished_at=txn.now,
                 canvas_state=outcome.value)
    return batch_id


def many_imports(store: Store, institutions: list[str], count: int, *, posted_at: float,
                 finished_at: float, filename: str = "users.csv") -> None:
    """``count`` imported batches per institution (one upload each, institutions taking
    turns), all posted and finished at the times given, written in one transaction."""
    with store.transaction() as txn:
        for number in range(count * len(institutions)):
            name = institutions[number % len(institutions)]
            upload = txn.record_upload(name, filename, 100, "0" * 64)
            batch = txn.create_batch(name)
            txn.move("upload", upload, UploadState.RECEIVED, UploadState.ACCEPTED,
                     batch_id=batch)
            for current, state in zip((BatchState.OPEN, *TO_IMPORTING), TO_IMPORTING,
                                      strict=False):
                txn.move("batch", batch, current, state,
                         **({"posted_at": posted_at, "import_id": number + 1}
                            if state is BatchState.IMPORTING else {}))  # type: ignore[arg-type]
            txn.move("batch", batch, BatchState.IMPORTING, BatchState.IMPORTED,
                     finished_at=finished_at)
