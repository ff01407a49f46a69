"""The sorter runner: turns RECEIVED uploads into sealed, ordered batches.

Two phases, each crash-safe on its own:
1. *form*: once an institution's uploads are quiet, sniff them and, in one transaction,
   create OPEN batches and move every upload to ACCEPTED or REJECTED inside one of them;
2. *seal*: for each OPEN batch build its zip durably, then move it to READY (or REJECTED
   with a report when nothing in it can be imported).  A crash while sealing leaves the batch
   OPEN and the next round rebuilds the same zip.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Protocol

from gateway.runner import Runner
from gateway.sorting.batching import group_uploads, is_quiet, member_names, write_batch_zip
from gateway.sorting.sniff import ZIP_KIND, Sniffed, sniff
from gateway.state.records import BatchRecord, UploadRecord
from gateway.state.spool import Spool, publish_file, temp_path_for
from gateway.state.states import BatchState, UploadState
from gateway.state.store import Store

log = logging.getLogger(__name__)

BATCH_REPORT = "batch_report"
"""A notice reporting a batch's end (imported, failed, held, rejected)."""
BATCH_RECEIPT = "batch_receipt"
"""A notice telling the sender a batch was formed and is on its way to Canvas."""


class IntakeGate(Protocol):
    """What the sorter asks the SFTP intake (implemented by gateway.intake.deliveries)."""

    def forming(self, institution: str) -> AbstractContextManager[Any]:
        """A lock held while a batch is formed, so the intake records no verdict meanwhile."""

    def uploads_open(self, institution: str) -> int:
        """Uploads of the institution still being written (or awaiting their rename)."""

    def released_through(self, institution: str) -> int | None:
        """The last upload id a trigger file released; None when batching by quiet period."""

    def refused(self, institution: str) -> Mapping[int, str]:
        """Uploads that must be rejected (checksum sidecar mismatch), with the reason."""


class UngatedIntake:
    """No intake to ask (tests, tools): nothing open, quiet-period batching, no refusals."""

    def forming(self, institution: str) -> AbstractContextManager[Any]:
        """No lock needed."""
        return nullcontext()

    def uploads_open(self, institution: str) -> int:
        """Nothing is being written."""
        return 0

    def released_through(self, institution: str) -> int | None:
        """Batch by the quiet period."""
        return None

    def refused(self, institution: str) -> Mapping[int, str]:
        """Nothing is refused."""
        return {}


class Sorter(Runner):
    """Forms and seals batches; calls ``on_ready`` when a batch became READY or REJECTED."""

    name = "sorter"

    def __init__(self, *, store: Store, spool: Spool, institutions: Callable[[], list[str]],
                 quiet_seconds: float, on_ready: Callable[[], None],
                 intake: IntakeGate | None = None) -> None:
        super().__init__(idle_seconds=max(0.2, min(quiet_seconds / 2, 5.0)))
        self._store = store
        self._spool = spool
        self._institutions = institutions
        self._quiet_seconds = quiet_seconds
        self._on_ready = on_ready
        self._intake = intake or UngatedIntake()

    def step(self) -> bool:
        """Form batches for quiet institutions, then seal every OPEN batch."""
        formed = [self._form(name) for name in self._institutions()]
        sealed = self._store.batches(state=BatchState.OPEN)
        for batch in sealed:
            self._seal(batch)
        if sealed:
            self._on_ready()
        return any(formed) or bool(sealed)

    def _form(self, institution: str) -> bool:
        with self._intake.forming(institution):
            pending = self._deliverable(institution)
            if not pending:
                return False
            refused = self._intake.refused(institution)
            sniffed = {u.id: Sniffed(None, None, refused[u.id]) if u.id in refused
                       else sniff(self._spool.upload_path(u.id), u.filename) for u in pending}
            self._record_batches(institution, pending, sniffed)
        return True

    def _deliverable(self, institution: str) -> list[UploadRecord]:
        """The uploads forming the institution's next delivery now (none: wait longer)."""
        pending = self._store.uploads(institution=institution, state=UploadState.RECEIVED)
        through = self._intake.released_through(institution)
        if through is not None:  # trigger files: the sender says when a delivery is complete
            return [upload for upload in pending if upload.id <= through]
        if self._intake.uploads_open(institution):  # a file still arriving belongs with these
            return []
        return pending if is_quiet(pending, self._store.clock(), self._quiet_seconds) else []

    def _record_batches(self, institution: str, pending: list[UploadRecord],
                        sniffed: dict[int, Sniffed]) -> None:
        with self._store.transaction() as txn:
            for group in group_uploads(pending, sniffed):
                batch_id = txn.create_batch(institution)
                for upload in group:
                    found = sniffed[upload.id]
                    txn.move("upload", upload.id, UploadState.RECEIVED,
                             UploadState.ACCEPTED if found.accepted else UploadState.REJECTED,
                             reason=found.problem, batch_id=batch_id, kind=found.kind,
                             rows=found.rows, problem=found.problem)
                log.info("batch formed", extra={"batch_id": batch_id,
                                                "institution": institution,
                                                "uploads": [u.id for u in group]})

    def _seal(self, batch: BatchRecord) -> None:
        members = self._store.uploads(batch_id=batch.id)
        accepted = [u for u in members if u.state is UploadState.ACCEPTED]
        if accepted:
            self._build_zip(batch.id, accepted)
        with self._store.transaction() as txn:
            if accepted:
                txn.move("batch", batch.id, BatchState.OPEN, BatchState.READY)
                txn.add_notice(BATCH_RECEIPT, batch.institution, batch.id,
                               batch_state=BatchState.READY)
            else:
                reason = "no file in this delivery can be imported"
                txn.move("batch", batch.id, BatchState.OPEN, BatchState.REJECTED,
                         reason=reason, finished_at=txn.now)
                txn.add_notice(BATCH_REPORT, batch.institution, batch.id,
                               batch_state=BatchState.REJECTED, reason=reason)

    def _build_zip(self, batch_id: int, accepted: list[UploadRecord]) -> None:
        final = self._spool.batch_zip_path(batch_id)
        temp = temp_path_for(final)
        try:
            if len(accepted) == 1 and accepted[0].kind == ZIP_KIND:
                # A zip upload is sent exactly as received.
                os.link(self._spool.upload_path(accepted[0].id), temp)
            else:
                names = member_names([u.filename for u in accepted])
                write_batch_zip([(name, self._spool.upload_path(u.id))
                                 for name, u in zip(names, accepted, strict=True)], temp)
                _fsync_file(temp)
            publish_file(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

