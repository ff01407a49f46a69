"""What the sorter must know from the intake beyond the uploads: trigger marks and checksum
verdicts (kept in the store: gateway.state.intake_marks), and the lock that keeps them
consistent with batching.

* A *trigger mark* says "every upload up to id N is one complete delivery" (the vendor
  uploaded ``READY`` or ``*.done``).  Institutions with ``trigger_files`` are batched only up
  to their mark; the others by the quiet period.
* A *refusal* says "upload N must not be imported, for this reason" (its checksum sidecar did
  not match).  The sorter rejects it inside its delivery, so the report names it and says why.

Both are committed to the store before the client's close is acknowledged, so they survive
a crash exactly like received uploads do, and every node reads them.  The per-institution
lock is held by the sorter while it forms a batch and by the intake while it records a
verdict, so a verdict is never recorded for an upload the sorter has just taken: a thread
lock within this process, and the store's lock (:meth:`IntakeMarks.holding`) across nodes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from gateway.state.intake_marks import IntakeMarks


class _FormingLock:
    """One institution's lock: reentrant within a thread, and the store's lock held once
    for the outermost block (the store's is not reentrant)."""

    def __init__(self, marks: IntakeMarks, institution: str) -> None:
        self._local = threading.RLock()
        self._marks = marks
        self._institution = institution
        self._depth = 0
        self._held = ExitStack()

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._local:
            if self._depth == 0:
                self._held.enter_context(self._marks.holding(self._institution))
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._held.close()


class Deliveries:
    """Trigger marks and checksum refusals in the store; implements the sorter's IntakeGate
    together with the receiver's count of open uploads."""

    def __init__(self, marks: IntakeMarks, *, trigger_mode: Callable[[str], bool],
                 uploads_open: Callable[[str], int]) -> None:
        self._marks = marks
        self._trigger_mode = trigger_mode
        self._uploads_open = uploads_open
        self._guard = threading.Lock()
        self._locks: dict[str, _FormingLock] = {}

    def import_files(self, folder: Path) -> int:
        """Move an older data dir's JSON marks (``folder/<institution>.json``) into the
        store once; see IntakeMarks.import_files."""
        return self._marks.import_files(folder)

    def forming(self, institution: str) -> AbstractContextManager[None]:
        """The lock to hold while reading pending uploads and committing a batch of them."""
        with self._guard:
            lock = self._locks.setdefault(institution, _FormingLock(self._marks, institution))
        return lock.held()

    def uploads_open(self, institution: str) -> int:
        """Uploads of ``institution`` being written right now (any session)."""
        return self._uploads_open(institution)

    def released_through(self, institution: str) -> int | None:
        """The highest upload id a trigger file released, or None when the institution is
        batched by the quiet period instead."""
        if not self._trigger_mode(institution):
            return None
        return self._marks.released_through(institution)

    def refused(self, institution: str) -> Mapping[int, str]:
        """Uploads that must be rejected, with the reason, by id."""
        return self._marks.refused(institution)

    def release(self, institution: str, through: int) -> None:
        """Durably mark uploads up to ``through`` as one complete delivery.  No lock: the
        store's upsert only ever raises the mark, and a sorter forming meanwhile sees the
        new mark at its next round."""
        self._marks.release(institution, through)

    def refuse(self, institution: str, upload_id: int, problem: str) -> None:
        """Durably record that ``upload_id`` must not be imported; refusals of uploads no
        longer waiting are dropped (the sorter has used them).  Call with the lock held,
        having seen the upload waiting."""
        self._marks.refuse(institution, upload_id, problem)
