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
from collections.abc import Callable
from pathlib import Path

from gateway.runner import Runner
from gateway.sorting.batching import group_uploads, is_quiet, member_names, write_batch_zip
from gateway.sorting.sniff import ZIP_KIND, sniff
from gateway.state.records import BatchRecord, UploadRecord
from gateway.state.spool import Spool, fsync_directory, publish_file, temp_path_for
from gateway.state.states import BatchState, UploadState
from gateway.state.store import Store

log = logging.getLogger(__name__)

BATCH_REPORT = "batch_report"
"""A notice reporting a batch's end (imported, failed, held, rejected)."""
BATCH_RECEIPT = "batch_receipt"
"""A notice telling the sender a batch was formed and is on its way to Canvas."""


class Sorter(Runner):
    """Forms and seals batches; calls ``on_ready`` when a batch became READY or REJECTED."""

    name = "sorter"

    def __init__(self, *, store: Store, spool: Spool, institutions: Callable[[], list[str]],
                 quiet_seconds: float, on_ready: Callable[[], None]) -> None:
        super().__init__(idle_seconds=max(0.2, min(quiet_seconds / 2, 5.0)))
        self._store = store
        self._spool = spool
        self._institutions = institutions
        self._quiet_seconds = quiet_seconds
        self._on_ready = on_ready

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
        pending = self._store.uploads(institution=institution, state=UploadState.RECEIVED)
        if not is_quiet(pending, self._store.clock(), self._quiet_seconds):
            return False
        sniffed = {u.id: sniff(self._spool.upload_path(u.id), u.filename) for u in pending}
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
        return True

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
        for upload in members:
            self._hide_from_inbox(upload)

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

    def _hide_from_inbox(self, upload: UploadRecord) -> None:
        """Remove the inbox view of a sorted upload, unless a newer upload took the name."""
        visible = self._spool.inbox(upload.institution) / upload.filename
        try:
            if os.path.samefile(visible, self._spool.upload_path(upload.id)):
                visible.unlink()
                fsync_directory(visible.parent)
        except FileNotFoundError:
            pass


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

