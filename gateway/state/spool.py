"""The data volume: durable publication by fsync + rename, and its folder layout.

Every file the gateway writes locally (reports, mail files, status.json, and the payloads of
the local custody) is written under a temporary name, flushed to disk, renamed onto its final
name and the folder flushed too.  A reader therefore sees either nothing or the whole file,
even across a power cut, and a crash leaves at worst a temporary file that recovery removes.

Payloads (uploads, batch zips, errors CSVs, quarantine, archive) are reached only through a
:class:`gateway.state.custody.Custody`; the payload folders below are the layout of the local
one (:class:`gateway.state.local_custody.LocalCustody`), kept here so tests and ``create``
share it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TEMP_SUFFIX = ".tmp"
NAME_MAX = 255
"""The longest file name, in bytes, Linux file systems take (longer: ENAMETOOLONG)."""


def fsync_directory(directory: Path) -> None:
    """Flush a directory entry table so that a rename inside it survives a crash."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path_for(final: Path) -> Path:
    """Return a unique hidden temporary name beside ``final`` (same filesystem, so rename works).

    The temp name is at most NAME_MAX bytes for any final name: a long final name (an upload's
    own name may take all of NAME_MAX) appears in it shortened, since the temp name only has to
    be unique, hidden and end in TEMP_SUFFIX for recovery to find it.
    """
    tail = f".{secrets.token_hex(6)}{TEMP_SUFFIX}"
    return final.with_name(f".{shortened(final.name, NAME_MAX - 1 - len(tail))}{tail}")


def shortened(name: str, limit: int) -> str:
    """The longest start of ``name`` whose file-system encoding takes at most ``limit`` bytes,
    cut between characters (``name`` itself when it fits)."""
    cut = name[:limit]  # a character takes at least one byte
    while len(os.fsencode(cut)) > limit:
        cut = cut[:-1]
    return cut


def publish_file(temp: Path, final: Path) -> None:
    """Make an already written and fsynced ``temp`` file appear atomically as ``final``.

    Replaces ``final`` if it exists.  On return the rename is durable.
    """
    os.replace(temp, final)
    fsync_directory(final.parent)


def fsync_file(path: Path) -> None:
    """Flush a written file's bytes to disk (before it is published by rename)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_bytes(final: Path, data: bytes) -> None:
    """Durably write ``data`` as ``final``: either the old content or all of ``data`` survives."""
    publish_stream(final, (data,))


def publish_stream(final: Path, chunks: Iterable[bytes]) -> tuple[int, str]:
    """Durably write the bytes ``chunks`` yields as ``final``, one chunk in memory at a time;
    returns their size and SHA-256 (hex).  Written to a temp name beside ``final``, fsynced,
    then renamed: if ``chunks`` raises (a size cap, a broken download), or anything else
    fails, the temp file is removed, ``final`` is untouched, and the error propagates."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(final)
    digest, size = hashlib.sha256(), 0
    try:
        with open(temp, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        publish_file(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    """The bytes of the file at ``path``, ``size`` at a time (for :func:`publish_stream`)."""
    with open(path, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


@dataclass(frozen=True)
class Spool:
    """The data volume's folders.  Nothing under ``sftp`` is authoritative; ``spool`` is."""

    root: Path

    @property
    def incoming(self) -> Path:
        """Uploads being written; anything here after a crash was never acknowledged."""
        return self.root / "spool" / "incoming"

    @property
    def uploads(self) -> Path:
        """Received uploads, immutable, named by upload id."""
        return self.root / "spool" / "uploads"

    @property
    def batches(self) -> Path:
        """Built batch zips, immutable, named by batch id."""
        return self.root / "spool" / "batches"

    @property
    def exports(self) -> Path:
        """Downloaded export files, named by export run id, until they are published."""
        return self.root / "spool" / "exports"

    @property
    def quarantine(self) -> Path:
        """Files set aside with a reason file beside each; never deleted automatically."""
        return self.root / "spool" / "quarantine"

    @property
    def archive(self) -> Path:
        """Per-batch archives (the local custody's ``archive`` area)."""
        return self.root / "archive"

    @property
    def deliveries(self) -> Path:
        """Where gateways before the ``delivery_marks`` table kept the intake's trigger
        marks and checksum verdicts; imported into the store at start, then removed."""
        return self.root / "spool" / "intake"

    @property
    def sftp(self) -> Path:
        """The institutions' SFTP homes (chroots)."""
        return self.root / "sftp"

    @property
    def mail(self) -> Path:
        """Mail written as .eml files when no SMTP server is configured (demo mode)."""
        return self.root / "mail"

    @property
    def host_keys(self) -> Path:
        """SSH host keys, generated once and kept across restarts."""
        return self.root / "host-keys"

    @property
    def database(self) -> Path:
        """The state store."""
        return self.root / "state.db"

    def export_path(self, run_id: int) -> Path:
        """Where an export run's downloaded file waits to be published."""
        return self.exports / f"{run_id:08d}"

    def outbox(self, institution: str) -> Path:
        """Where the local shelf keeps an institution's exports (read-only to it)."""
        return self.home(institution) / "outbox"

    def home(self, institution: str) -> Path:
        """An institution's SFTP home."""
        return self.sftp / institution

    def inbox(self, institution: str) -> Path:
        """Where an institution uploads."""
        return self.home(institution) / "inbox"

    def reports(self, institution: str) -> Path:
        """Where the local shelf keeps an institution's reports and status.json."""
        return self.home(institution) / "reports"

    def create(self, institutions: list[str], *, shelf_folders: bool = True) -> None:
        """Create every folder the gateway writes to (idempotent); ``shelf_folders``: also
        each home's ``reports`` and ``outbox`` (the local shelf's; in cluster mode what
        vendors read is in the bucket and these are never used)."""
        for folder in (self.incoming, self.uploads, self.batches, self.exports,
                       self.quarantine, self.host_keys, self.mail):
            folder.mkdir(parents=True, exist_ok=True)
        for name in institutions:
            self.inbox(name).mkdir(parents=True, exist_ok=True)
            if shelf_folders:
                self.reports(name).mkdir(parents=True, exist_ok=True)
                self.outbox(name).mkdir(parents=True, exist_ok=True)
