"""File custody: the one interface through which the gateway keeps its payloads.

A *payload* is an immutable file the gateway is answerable for: a received upload, a built
batch zip, Canvas's errors CSV, a quarantined file and its reason, an archived copy.  Callers
name a payload by its :class:`PayloadKey` and let a :class:`Custody` do the I/O, so they never
learn whether the bytes live in the local spool (``LocalCustody``, the default: fsync + temp +
rename) or in an S3-compatible bucket (``S3Custody``, cluster mode).

Contracts every implementation keeps:

- ``put`` is create-only unless asked to replace: it never silently overwrites a payload
  another writer published, and a reader sees either no payload or all of it.
- A payload that is not there raises :class:`PayloadMissingError` (``size`` returns None instead).
- Every failure of the storage itself is a :class:`CustodyError` naming the key and where it
  is kept (a folder, or a bucket), never a credential.

What is not a payload (SFTP homes, incoming ``.part`` files, host keys, mail) stays on the
local data volume: :class:`gateway.state.spool.Spool`; what institutions read (reports,
exports) is on the shelf (:mod:`gateway.state.shelf`), which in cluster mode keeps it in the
custody's bucket too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol

from gateway.state.records import UploadRecord


class Area(StrEnum):
    """The kinds of payload, each a folder (local) or a key prefix (S3) of its own."""

    UPLOADS = "uploads"
    BATCHES = "batches"
    QUARANTINE = "quarantine"
    ARCHIVE = "archive"
    HOMES = "homes"
    """What institutions read over SFTP (reports, exports): kept here only in cluster mode,
    by :class:`gateway.state.s3_shelf.S3Shelf` (locally, the SFTP homes themselves)."""


REASON_SUFFIX = ".reason.txt"
"""A quarantined payload's reason is kept beside it, under its name plus this."""

_SEGMENT = re.compile(r"[^/\x00]+")


@dataclass(frozen=True, order=True)
class PayloadKey:
    """The name of one payload: an area and a ``/``-separated name inside it.

    Build keys with the constructors (``upload``, ``batch_zip``...), which hold the layout in
    one place.  A name never starts a segment with ``.`` (hidden names are the custody's own
    temp files) and never contains ``..`` or an empty segment.
    """

    area: Area
    name: str

    def __post_init__(self) -> None:
        segments = self.name.split("/")
        if not all(_SEGMENT.fullmatch(part) and not part.startswith(".")
                   for part in segments):
            raise ValueError(f"{self.name!r} is not a payload name: use non-empty parts "
                             "without a leading '.', separated by '/'")

    def __str__(self) -> str:
        return f"{self.area}/{self.name}"

    @classmethod
    def upload(cls, upload_id: int) -> PayloadKey:
        """A received upload stored under its id (uploads recorded before payload names)."""
        return cls(Area.UPLOADS, f"{upload_id:08d}")

    @classmethod
    def received(cls, token: str) -> PayloadKey:
        """A received upload stored under a name chosen before its record existed (the
        record names it: see ``Receiver._receive``)."""
        return cls(Area.UPLOADS, f"r-{token}")

    @classmethod
    def batch_zip(cls, batch_id: int) -> PayloadKey:
        """The zip sent to Canvas for a batch."""
        return cls(Area.BATCHES, f"{batch_id:08d}.zip")

    @classmethod
    def batch_errors(cls, batch_id: int) -> PayloadKey:
        """Canvas's errors CSV for a batch's import."""
        return cls(Area.BATCHES, f"{batch_id:08d}.errors.csv")

    @classmethod
    def quarantined(cls, name: str) -> PayloadKey:
        """A file set aside (its reason is ``quarantined(name + REASON_SUFFIX)``)."""
        return cls(Area.QUARANTINE, name)

    @classmethod
    def archived(cls, institution: str, batch_id: int, name: str) -> PayloadKey:
        """A file of a batch's archive (``name`` may hold a ``/``: ``received/01-x.csv``)."""
        return cls(Area.ARCHIVE, f"{archive_prefix(institution, batch_id)}{name}")

    @property
    def upload_id(self) -> int | None:
        """The upload id an id-named upload payload carries (None for any other key)."""
        if self.area is Area.UPLOADS and self.name.isdigit():
            return int(self.name)
        return None


def archive_prefix(institution: str, batch_id: int) -> str:
    """The name prefix (ending in ``/``) of every archived file of a batch."""
    return f"{institution}/batch-{batch_id:06d}/"


def upload_key(upload: UploadRecord) -> PayloadKey:
    """Where an upload's bytes are kept: the name its record gives, else its id."""
    if upload.payload:
        return PayloadKey(Area.UPLOADS, upload.payload)
    return PayloadKey.upload(upload.id)


class CustodyError(Exception):
    """The payload store failed or refused; ``key`` and ``place`` (a folder or a bucket)
    say which payload and where, ``reason`` what went wrong in a few words."""

    def __init__(self, key: PayloadKey | None, place: str, reason: str) -> None:
        self.key = key
        self.place = place
        self.reason = reason
        about = f"payload {key}" if key is not None else "payload store"
        super().__init__(f"{about} in {place}: {reason}")


class PayloadMissingError(CustodyError):
    """There is no payload under the key."""


class PayloadExistsError(CustodyError):
    """A create-only put found a payload already under the key."""


@dataclass(frozen=True)
class PayloadStat:
    """A payload's size in bytes, when it was last written (epoch seconds), and the
    version the store gives it (S3's ETag; empty where there is none)."""

    size: int
    modified_at: float
    version: str = ""


class Custody(Protocol):
    """Keeps payloads by key; see the module docstring for the contracts."""

    def put(self, key: PayloadKey, source: Path | bytes, *, replace: bool = False) -> None:
        """Durably store ``source`` (bytes, or a written file) as ``key``.

        A file ``source`` is handed over: it is gone once put returns (moved or uploaded,
        then removed), and left for the caller to remove if put raises.  Raises
        PayloadExistsError when ``key`` exists and ``replace`` is False (an implementation
        whose writes may be retried underneath, S3's, takes the very same bytes there as
        its own earlier attempt and returns); on return the payload survives a crash."""
        ...

    def scratch(self, key: PayloadKey) -> AbstractContextManager[Path]:
        """A fresh local path to write the bytes of ``key`` to before putting them (on the
        same volume as the payload where that makes put a rename); removed on exit if the
        file is still there."""
        ...

    def open(self, key: PayloadKey) -> BinaryIO:
        """A stream of the payload's bytes (read in chunks; the caller closes it)."""
        ...

    def local_path(self, key: PayloadKey) -> AbstractContextManager[Path]:
        """A seekable local file with the payload's bytes, for as long as the context lasts
        (the spool file itself, or a scratch copy removed afterwards).  Read only."""
        ...

    def stat(self, key: PayloadKey) -> PayloadStat | None:
        """The payload's size and time, or None when there is none."""
        ...

    def size(self, key: PayloadKey) -> int | None:
        """The payload's size in bytes, or None when there is none."""
        ...

    def move(self, key: PayloadKey, to: PayloadKey) -> None:
        """Make the payload ``key`` appear as ``to`` (replacing it) and disappear as
        ``key``; a crash leaves it under one of the two names, or both."""
        ...

    def copy(self, key: PayloadKey, to: PayloadKey) -> None:
        """Make the payload ``key`` also appear as ``to`` (replacing it)."""
        ...

    def delete(self, key: PayloadKey) -> bool:
        """Remove the payload; True if there was one."""
        ...

    def keys(self, area: Area, prefix: str = "") -> Iterator[PayloadKey]:
        """The keys of the area whose names start with ``prefix``, in name order (the
        custody's own temp names are never listed)."""
        ...

    def sweep(self, grace_seconds: float) -> int:
        """Remove what unfinished writes left behind more than ``grace_seconds`` ago (temp
        files, unfinished multipart uploads); returns how many."""
        ...

    def check(self) -> None:
        """Raise CustodyError unless payloads can be listed and written now."""
        ...

    @property
    def place(self) -> str:
        """Where payloads are kept, for people (a folder, or ``s3://bucket/prefix``)."""
        ...

    def locate(self, key: PayloadKey) -> str:
        """Where a person finds the payload (a file path, or an ``s3://`` URL)."""
        ...

    def stream(self, key: PayloadKey) -> Iterator[bytes]:
        """The payload's bytes in chunks of about a megabyte."""
        ...


def chunks_of(reader: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """The bytes ``reader`` gives, ``size`` at a time; closes it at the end."""
    with reader:
        while chunk := reader.read(size):
            yield chunk
