"""What the sorter must know from the intake beyond the store: trigger marks and checksum
verdicts, kept durably per institution, and the lock that keeps them consistent with batching.

* A *trigger mark* says "every upload up to id N is one complete delivery" (the vendor
  uploaded ``READY`` or ``*.done``).  Institutions with ``trigger_files`` are batched only up
  to their mark; the others by the quiet period.
* A *refusal* says "upload N must not be imported, for this reason" (its checksum sidecar did
  not match).  The sorter rejects it inside its delivery, so the report names it and says why.

Both are written with fsync + rename before the client's close is acknowledged, so they
survive a crash exactly like received uploads do.  The per-institution lock is held by the
sorter while it forms a batch and by the intake while it records a verdict, so a verdict is
never recorded for an upload the sorter has just taken.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.state.spool import publish_bytes


@dataclass
class Marks:
    """An institution's durable intake facts."""

    released_through: int = 0
    refused: dict[int, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        """The JSON stored on disk."""
        return json.dumps({"released_through": self.released_through,
                           "refused": {str(k): v for k, v in self.refused.items()}},
                          sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> Marks:
        """Read what :meth:`encode` wrote."""
        raw = json.loads(data)
        return cls(int(raw["released_through"]),
                   {int(k): str(v) for k, v in raw["refused"].items()})


class Deliveries:
    """Durable trigger marks and checksum refusals; implements the sorter's IntakeGate
    together with the receiver's count of open uploads."""

    def __init__(self, folder: Path, *, trigger_mode: Callable[[str], bool],
                 uploads_open: Callable[[str], int]) -> None:
        self._folder = folder
        self._trigger_mode = trigger_mode
        self._uploads_open = uploads_open
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._marks: dict[str, Marks] = {}

    def forming(self, institution: str) -> threading.RLock:
        """The lock to hold while reading pending uploads and committing a batch of them."""
        with self._guard:
            return self._locks.setdefault(institution, threading.RLock())

    def uploads_open(self, institution: str) -> int:
        """Uploads of ``institution`` being written right now (any session)."""
        return self._uploads_open(institution)

    def released_through(self, institution: str) -> int | None:
        """The highest upload id a trigger file released, or None when the institution is
        batched by the quiet period instead."""
        if not self._trigger_mode(institution):
            return None
        return self._read(institution).released_through

    def refused(self, institution: str) -> Mapping[int, str]:
        """Uploads that must be rejected, with the reason, by id."""
        return dict(self._read(institution).refused)

    def release(self, institution: str, through: int) -> None:
        """Durably mark uploads up to ``through`` as one complete delivery."""
        with self.forming(institution):
            marks = self._read(institution)
            self._write(institution, Marks(max(marks.released_through, through),
                                           dict(marks.refused)))

    def refuse(self, institution: str, upload_id: int, problem: str,
               pending: set[int]) -> None:
        """Durably record that ``upload_id`` must not be imported; refusals of uploads no
        longer ``pending`` are dropped (the sorter has used them).  Call with the lock held."""
        marks = self._read(institution)
        refused = {k: v for k, v in marks.refused.items() if k in pending}
        refused[upload_id] = problem
        self._write(institution, Marks(marks.released_through, refused))

    def _path(self, institution: str) -> Path:
        return self._folder / f"{institution}.json"

    def _read(self, institution: str) -> Marks:
        with self._guard:
            cached = self._marks.get(institution)
        if cached is None:
            path = self._path(institution)
            cached = Marks.decode(path.read_bytes()) if path.exists() else Marks()
            with self._guard:
                self._marks[institution] = cached
        return cached

    def _write(self, institution: str, marks: Marks) -> None:
        """Publish ``marks`` durably, then let readers see them (never the other way)."""
        publish_bytes(self._path(institution), marks.encode())
        with self._guard:
            self._marks[institution] = marks
