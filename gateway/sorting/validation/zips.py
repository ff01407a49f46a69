"""Validating a zip upload: Canvas's member walk, the gateway's guards, each CSV validated.

Canvas unpacks a zip and walks it: directories are entered, paths matching
``/__macosx|desktop d[bf]|\\A\\..*/i`` (and any dotfile) are skipped silently, other non-CSV
members get the warning ``Skipping unknown file type`` and every ``.csv`` member is sniffed.
Before anything is read the gateway refuses, with a message naming the zip and the member:
paths that would land outside the extraction folder (zip-slip), zips expanding beyond
``max_ratio`` times their size (Canvas's own limit is 100) or ``max_total_bytes``, too many
members, and encrypted members without the right password.  A zip Python cannot read is
Canvas's ``Error while importing CSV`` failure.  AES (WinZip) and ZipCrypto zips are read
with pyzipper.
"""

from __future__ import annotations

import io
import lzma
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

import pyzipper

from gateway.sorting.validation.csvfile import Progress, validate_source
from gateway.sorting.validation.findings import BlockingPolicy, Code, Finding, FindingLog
from gateway.sorting.validation.verdicts import FileVerdict, ValidationOptions
from gateway.state.records import FindingRecord

_IGNORED = re.compile(r"__macosx|desktop d[bf]|(^|/)desktop\.ini$", re.IGNORECASE)
_READ_ERRORS = (pyzipper.BadZipFile, zlib.error, lzma.LZMAError, struct.error, EOFError,
                OSError, RuntimeError, NotImplementedError, ValueError)
"""What reading a zip raises for damaged data: each is the zip's finding."""
_LIBRARY_ERRORS = (*_READ_ERRORS,
                   # pyzipper's own parsing of hostile headers: an AES strength byte it has
                   # no table entry for (KeyError), extra fields running past their record
                   # (IndexError), an encrypted flag without the AES extra (AttributeError).
                   KeyError, IndexError, AttributeError, TypeError)
"""Also what the zip library raises: caught only around its own calls, so that the same
errors from the gateway's checks stay bugs (``check_failed``), not a "damaged zip"."""


class MemberReadError(Exception):
    """The zip library failed while reading a member (the cause is chained)."""


@dataclass(frozen=True)
class ZipLimits:
    """Guards against zip bombs: expansion ratio, total size, member count."""

    max_ratio: int = 100
    max_total_bytes: int = 4 << 30
    max_members: int = 10_000


@dataclass(frozen=True)
class ZipVerdict:
    """A zip's own findings (guards, unreadable, skipped members) and each CSV's verdict."""

    name: str
    findings: tuple[Finding, ...]
    members: tuple[FileVerdict, ...]

    @property
    def failure_class(self) -> bool:
        return any(f.failure_class for f in self.findings) or \
            any(m.failure_class for m in self.members)

    def blocked(self, policy: BlockingPolicy) -> bool:
        return any(policy.blocks(f) for f in self.findings) or \
            any(m.blocked(policy) for m in self.members)

    def records(self, policy: BlockingPolicy) -> list[FindingRecord]:
        """All findings as the store keeps them; the store names only the upload, so each
        message starts with the member it is about."""
        records = [policy.record(f) for f in self.findings]
        for member in self.members:
            for record in member.records(policy):
                records.append(FindingRecord(record.file, record.row, record.column,
                                             f"{member.name}: {record.message}", record.fix,
                                             record.blocking))
        return records


def validate_zip(path: Path, display_name: str, password: bytes | None = None, *,
                 limits: ZipLimits | None = None, options: ValidationOptions | None = None,
                 on_progress: Progress | None = None) -> ZipVerdict:
    """Validate the zip at ``path`` (the sender's ``display_name``); never raises for its
    content.  ``password`` opens AES or ZipCrypto members."""
    limits = limits or ZipLimits()
    log = FindingLog()
    try:
        with pyzipper.AESZipFile(path) as archive:
            infos = sorted(archive.infolist(), key=lambda info: info.filename)
    except _LIBRARY_ERRORS as error:
        log.add(_corrupt(display_name, None, error))
        return ZipVerdict(display_name, tuple(log.kept), ())
    members = _walk(infos, display_name, log)
    _guard(infos, members, size=path.stat().st_size, name=display_name, password=password,
           limits=limits, log=log)
    if any(f.failure_class for f in log.kept):
        return ZipVerdict(display_name, tuple(log.kept), ())
    verdicts = tuple(_member_verdict(path, info.filename, password, options, on_progress)
                     for info in members)
    return ZipVerdict(display_name, tuple(log.kept), verdicts)


def csv_member_names(path: Path) -> list[str]:
    """The CSV members Canvas would import from a zip that passed validation, in the order
    validation walked them (raises the zip library's errors for an unreadable zip)."""
    with pyzipper.AESZipFile(path) as archive:
        infos = sorted(archive.infolist(), key=lambda info: info.filename)
    return [info.filename for info in _walk(infos, path.name, FindingLog())]


def _walk(infos: list[pyzipper.ZipInfo], name: str, log: FindingLog) -> list[pyzipper.ZipInfo]:
    """Canvas's walk: the CSV members to validate, in path order."""
    members = []
    for info in infos:
        # Not ``info.is_dir()``: it fails on the empty name a NUL-led member is read as.
        if not info.filename or info.filename.endswith("/") or _skipped(info.filename):
            continue
        if not info.filename.lower().endswith(".csv"):
            log.add(Finding(Code.UNKNOWN_FILE_TYPE, name, None, None,
                            f"{info.filename}: Skipping unknown file type",
                            "Canvas imports only the .csv files of a zip"))
            continue
        members.append(info)
    return members


def _skipped(filename: str) -> bool:
    parts = PurePosixPath(filename).parts
    return any(part.startswith(".") for part in parts) or bool(_IGNORED.search(filename))


def _guard(infos: list[pyzipper.ZipInfo], members: list[pyzipper.ZipInfo], *, size: int,
           name: str, password: bytes | None, limits: ZipLimits, log: FindingLog) -> None:
    """Refuse what must never be unpacked: unsafe paths, bombs, undecryptable members."""
    for info in infos:
        if not info.filename:
            log.add(Finding(Code.ZIP_UNSAFE_PATH, name, None, None,
                            "A member has no usable name (it is empty or starts with a NUL "
                            "byte)", "re-create the zip with ordinary file names"))
        elif _unsafe(info.filename):
            log.add(Finding(Code.ZIP_UNSAFE_PATH, name, None, None,
                            f"Member {info.filename!r} would be written outside the folder "
                            "it is unpacked in", "build the zip from relative paths only"))
    total = sum(info.file_size for info in infos)
    if len(infos) > limits.max_members:
        log.add(_too_large(name, f"it has {len(infos)} members (at most "
                                 f"{limits.max_members})"))
    elif total > limits.max_total_bytes or total > limits.max_ratio * max(size, 1):
        log.add(_too_large(name, f"it expands to {total} bytes from {size} (at most "
                                 f"{limits.max_ratio} times its size and "
                                 f"{limits.max_total_bytes} bytes)"))
    locked = [info.filename for info in members if info.flag_bits & 0x1]
    if locked and password is None:
        log.add(Finding(Code.ZIP_ENCRYPTED, name, None, None,
                        f"{locked[0]} is encrypted and no zip password is configured",
                        "configure the institution's zip password, or send the zip "
                        "unencrypted"))


def _unsafe(filename: str) -> bool:
    normal = filename.replace("\\", "/")
    return (normal.startswith("/") or bool(re.match(r"[A-Za-z]:", normal))
            or ".." in PurePosixPath(normal).parts)


def _too_large(name: str, why: str) -> Finding:
    return Finding(Code.ZIP_TOO_LARGE, name, None, None, f"The zip is refused: {why}",
                   "split the export into smaller zips, or check it is not corrupt")


def _corrupt(name: str, member: str | None, error: BaseException) -> Finding:
    where = f"{member}: " if member else ""
    if isinstance(error, RuntimeError) and "password" in str(error).lower():
        return Finding(Code.ZIP_ENCRYPTED, name, None, None,
                       f"{where}the configured zip password does not open it",
                       "check the institution's zip password")
    return Finding(Code.ZIP_CORRUPT, name, None, None,
                   f"{where}Error while importing CSV: the zip cannot be read "
                   f"({_what_failed(error)})",
                   "re-create the zip and upload it again")


def _what_failed(error: BaseException) -> str:
    """The library's own words, unless they are only a key or an index of its internals."""
    if isinstance(error, (KeyError, IndexError, AttributeError, TypeError, struct.error)):
        return "its headers are damaged or use an encryption the gateway cannot read"
    return str(error) or type(error).__name__


def _member_verdict(path: Path, member: str, password: bytes | None,
                    options: ValidationOptions | None,
                    on_progress: Progress | None) -> FileVerdict:
    opener = member_opener(path, member, password)
    try:
        return validate_source(opener, member, options, on_progress)
    except MemberReadError as unreadable:
        only = FindingLog()
        only.add(_corrupt(member, None, unreadable.__cause__ or unreadable))
        return FileVerdict.of(member, None, None, only)


def member_opener(path: Path, member: str, password: bytes | None) -> Callable[[], BinaryIO]:
    """Opens the member afresh each call; the archive closes when the member stream does.
    Whatever the zip library raises while opening or reading it is ``MemberReadError``."""
    def open_member() -> BinaryIO:
        try:
            with pyzipper.AESZipFile(path) as archive:
                # zipfile keeps the file open while a member stream still reads it.
                stream = archive.open(member, pwd=password)
        except _LIBRARY_ERRORS as error:
            raise MemberReadError(str(error)) from error
        return cast(BinaryIO, _GuardedMember(cast(IO[bytes], stream)))
    return open_member


class _GuardedMember(io.RawIOBase):
    """A member stream whose zip library errors come out as ``MemberReadError``."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._stream.read(len(buffer))
        except _LIBRARY_ERRORS as error:
            raise MemberReadError(str(error)) from error
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()
