"""What forming a delivery needs besides the sorter's loop: the intake gate it asks, and the
recording of planned batches in one transaction.

The gate's lock is held only while the delivery is re-read and recorded, never while it is
validated (see ``Sorter._form``): a trigger file's or checksum sidecar's close waits for a
commit, not for a whole delivery's validation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from gateway.sorting.delivery import PlannedBatch
from gateway.sorting.validation import UploadVerdict
from gateway.sorting.validation.findings import Code
from gateway.state.protocols import StoreTransaction
from gateway.state.records import UploadRecord
from gateway.state.states import NoticeKind, UploadState
from gateway.web.metrics import FILES_REJECTED

log = logging.getLogger("gateway.sorting.sorter")


class IntakeGate(Protocol):
    """What the sorter asks the SFTP intake (implemented by gateway.intake.deliveries)."""

    def forming(self, institution: str) -> AbstractContextManager[Any]:
        """A lock held while a batch is recorded, so the intake records no verdict meanwhile."""

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


def record_plan(txn: StoreTransaction, institution: str, plan: PlannedBatch,
                unchecked: Mapping[int, str]) -> int:
    """Create one planned batch and move its uploads into it (compare-and-set: each upload
    must still be RECEIVED); returns the batch id."""
    batch_id = txn.create_batch(institution, options=plan.options, row_counts=plan.row_counts)
    for upload in plan.uploads:
        if upload.id in unchecked:
            txn.add_notice(NoticeKind.GATEWAY_ERROR, institution, batch_id,
                           reason=f"upload {upload.id} ({upload.filename}): "
                                  f"{unchecked[upload.id]}")
        decision = plan.decisions[upload.id]
        txn.move("upload", upload.id, UploadState.RECEIVED,
                 UploadState.ACCEPTED if decision.accepted else UploadState.REJECTED,
                 reason=decision.problem, batch_id=batch_id, kind=decision.kind,
                 rows=decision.rows, problem=decision.problem)
        for finding in decision.findings:
            txn.add_finding(upload.id, finding)
    return batch_id


def announce(institution: str, batch_id: int, plan: PlannedBatch) -> None:
    """Log (and count) a batch that was formed: every rejected upload is a warning."""
    for upload in plan.uploads:
        decision = plan.decisions[upload.id]
        if not decision.accepted:
            FILES_REJECTED.labels(code=decision.code or "rejected").inc()
            log.warning("upload rejected", extra={
                "institution": institution, "upload_id": upload.id, "batch_id": batch_id,
                "file": upload.filename, "folder": upload.folder,
                "reason": decision.problem})
    log.info("batch formed", extra={"batch_id": batch_id, "institution": institution,
                                    "uploads": [u.id for u in plan.uploads],
                                    "options": plan.options})


def unchecked(pending: list[UploadRecord],
              verdicts: Mapping[int, UploadVerdict]) -> dict[int, str]:
    """The uploads the checks failed on (``CHECK_FAILED``), with the finding's words."""
    failed = {}
    for upload in pending:
        verdict = verdicts[upload.id]
        for finding in verdict.findings:
            if finding.code is Code.CHECK_FAILED:
                failed[upload.id] = finding.message
    return failed
