"""Where a client path points inside an institution's home, and which names are acceptable.

The home has exactly three folders: ``/inbox`` (uploads, and request files in
``/inbox/requests``), ``/reports`` (results) and ``/outbox`` (exports).  Inside
the inbox, a vendor may choose a delivery's Canvas import options by the folder it uploads
into: ``/inbox/batch/<term_sis_id>/`` (full batch mode for that term) or
``/inbox/diff/<identifier>/`` (diffing mode).  These *upload folders* are virtual: they exist
for every valid term or identifier, so making one is a no-op and nothing is ever created.
Every SFTP request resolves its path here first; anything that is not the root, a folder or
one plain file name inside the inbox, an upload folder or the reports, a request file, or an
export folder or file (``/outbox/<export>/<file>``) is refused with an error
saying what is wrong and what to do.  Nothing here touches the filesystem, so it cannot be
tricked by links.
"""

from __future__ import annotations

import posixpath
import unicodedata
from dataclasses import dataclass

import asyncssh

INBOX = "inbox"
REPORTS = "reports"
OUTBOX = "outbox"
FOLDERS = (INBOX, REPORTS, OUTBOX)
REQUESTS = "requests"
"""``/inbox/requests/<export>``: request files (gateway.intake.requests), never uploads."""
BATCH = "batch"
DIFF = "diff"
CONVENTIONS = (BATCH, DIFF)
"""The inbox's subfolders: each holds one upload folder per term (batch) or identifier (diff)."""
MAX_NAME_BYTES = 255
MAX_IDENTIFIER_CHARS = 128
"""Canvas's limit for ``diffing_data_set_identifier``; term SIS ids are held to it too."""
FILE_SUFFIXES = (".csv", ".zip")
"""What the files Canvas takes end in: a folder named so is a mistyped upload path."""
_LAYOUT = ("only /inbox (uploads), /reports (results) and /outbox (exports: "
           "/outbox/<export>/<file>) exist here")
BATCH_FOLDERS = "/inbox/batch/<term_sis_id>/ (full batch mode for that term)"
DIFF_FOLDERS = "/inbox/diff/<identifier>/ (diffing mode)"
UPLOAD_FOLDERS = f"upload files into /inbox, or into {BATCH_FOLDERS} or {DIFF_FOLDERS}"


@dataclass(frozen=True)
class Place:
    """The root (folder and name None), a folder (name None), or a file in a folder.

    ``subfolder`` is set only inside the inbox: ``batch`` or ``diff`` for those folders
    themselves, ``batch/<term_sis_id>`` or ``diff/<identifier>`` for an upload folder and the
    files in it.  A file's subfolder is always None or a whole upload folder.
    """

    folder: str | None
    name: str | None
    subfolder: str | None = None

    @property
    def display(self) -> str:
        """The path as the client would write it."""
        return "/" + "/".join(part for part in (self.folder, self.subfolder, self.name) if part)


@dataclass(frozen=True)
class InboxFile:
    """A file in the inbox: its upload folder (None for ``/inbox`` itself) and its name."""

    folder: str | None
    name: str

    @property
    def display(self) -> str:
        """The path as the client would write it."""
        return inbox_display(self.folder, self.name)


def inbox_display(folder: str | None, name: str) -> str:
    """The client's path of the file ``name`` in upload folder ``folder`` (None: /inbox)."""
    return f"/{INBOX}/{name}" if folder is None else f"/{INBOX}/{folder}/{name}"


def decode_path(path: bytes) -> str:
    """The client's path as text; raises SFTPInvalidFilename for bytes no name may hold."""
    try:
        text = path.decode("utf-8")
    except UnicodeDecodeError:
        raise asyncssh.SFTPInvalidFilename("file names must be UTF-8") from None
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise asyncssh.SFTPInvalidFilename(
            f"{text.encode('unicode_escape').decode()}: file names must not contain NUL or "
            "control characters; rename the file")
    return text


def locate(path: bytes) -> Place:
    """Resolve a client path to a Place, or raise an SFTP error saying what is wrong.

    Absolute paths are taken from the home (the client's ``/``); relative ones from it too,
    as clients start there.  ``..`` is refused rather than resolved: no request needs it, and
    refusing it makes escape attempts fail loudly instead of landing somewhere unexpected.
    """
    text = decode_path(path)
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise asyncssh.SFTPPermissionDenied(f"{text}: '..' is not allowed in paths; {_LAYOUT}")
    if not parts:
        return Place(None, None)
    if parts[0] not in FOLDERS:
        raise asyncssh.SFTPNoSuchFile(f"/{'/'.join(parts)}: {_LAYOUT}")
    if parts[0] == INBOX and len(parts) > 1 and parts[1] in CONVENTIONS:
        return _in_convention(parts)
    if parts[0] == OUTBOX or (parts[0] == INBOX and len(parts) > 1 and parts[1] == REQUESTS):
        return _one_level_down(parts)
    if len(parts) > 2:
        raise asyncssh.SFTPNoSuchFile(f"/{'/'.join(parts)}: " + (
            UPLOAD_FOLDERS if parts[0] == INBOX else _LAYOUT))
    if len(parts) == 2:
        _check_file_name(parts[1])
    return Place(parts[0], parts[1] if len(parts) == 2 else None)


def _in_convention(parts: list[str]) -> Place:
    """A path below ``/inbox/batch`` or ``/inbox/diff``: that folder, an upload folder, or a
    file in one; anything deeper is refused."""
    if len(parts) == 2:
        return Place(INBOX, None, parts[1])
    if len(parts) > 4:
        raise asyncssh.SFTPNoSuchFile(f"/{'/'.join(parts)}: folders go no deeper than "
                                      f"/inbox/{parts[1]}/<{_identifier_kind(parts[1])}>/; "
                                      + UPLOAD_FOLDERS)
    _check_identifier(parts[1], parts[2])
    folder = f"{parts[1]}/{parts[2]}"
    if len(parts) == 3:
        return Place(INBOX, None, folder)
    _check_file_name(parts[3])
    return Place(INBOX, parts[3], folder)


def _one_level_down(parts: list[str]) -> Place:
    """A path in ``/outbox`` (``/outbox/<export>/<file>``) or ``/inbox/requests``
    (``/inbox/requests/<export>``): the folder, its subfolder or a file in it."""
    folder = parts[0]
    if len(parts) > 3:
        where = "/outbox/<export>/<file>" if folder == OUTBOX else "/inbox/requests/<export>"
        raise asyncssh.SFTPNoSuchFile(f"/{'/'.join(parts)}: folders go no deeper than {where}")
    for part in parts[1:]:
        _check_file_name(part)
    if folder == OUTBOX:
        return Place(OUTBOX, parts[2] if len(parts) == 3 else None,
                     parts[1] if len(parts) > 1 else None)
    return Place(INBOX, parts[2] if len(parts) == 3 else None, REQUESTS)


def _identifier_kind(convention: str) -> str:
    return "term_sis_id" if convention == BATCH else "identifier"


def _check_identifier(convention: str, identifier: str) -> None:
    """Raise SFTPInvalidFilename unless ``identifier`` may name an upload folder: 1 to
    MAX_IDENTIFIER_CHARS printable characters, no leading dot, not a file's name."""
    problem = None
    if len(identifier) > MAX_IDENTIFIER_CHARS:
        problem = f"is longer than {MAX_IDENTIFIER_CHARS} characters"
    elif identifier.startswith("."):
        problem = "starts with a dot"
    elif not identifier.isprintable():
        problem = "has characters that are not printable"
    elif identifier.lower().endswith(FILE_SUFFIXES):
        problem = "is a file name, not a folder"
    if problem is not None:
        kind = _identifier_kind(convention)
        raise asyncssh.SFTPInvalidFilename(
            f"/inbox/{convention}/{identifier[:40]}: the {kind} {problem}; name the folder by "
            f"the {kind} (1 to {MAX_IDENTIFIER_CHARS} printable characters, no leading dot) "
            f"and upload into /inbox/{convention}/<{kind}>/")


def _check_file_name(name: str) -> None:
    if len(name.encode()) > MAX_NAME_BYTES:
        raise asyncssh.SFTPInvalidFilename(
            f"{name[:40]}...: file names are limited to {MAX_NAME_BYTES} bytes")


def canonical(path: bytes) -> bytes:
    """The absolute form of a client path, as REALPATH answers it: resolved lexically and
    clamped at the home's root (``cd ..`` from /inbox lands on /), never outside it."""
    text = decode_path(path)
    return posixpath.normpath(posixpath.join("/", text)).replace("//", "/").encode()


def file_in(place: Place, folder: str, action: str) -> str:
    """The file name of ``place`` when it is a file in ``folder``; else raise saying where
    ``action`` is possible."""
    if place.name is None:
        raise asyncssh.SFTPFileIsADirectory(f"{place.display} is a folder; {action}")
    if place.folder != folder:
        raise asyncssh.SFTPPermissionDenied(f"{place.display}: {action}")
    return place.name


def inbox_file(place: Place, action: str) -> InboxFile:
    """The inbox file ``place`` is; else raise saying where ``action`` is possible."""
    return InboxFile(place.subfolder, file_in(place, INBOX, action))


def inbox_subfolder(place: Place) -> str | None:
    """The virtual folder below /inbox that ``place`` is (``batch``, ``diff`` or an upload
    folder such as ``batch/2026-fall``), or None when it is not one."""
    if place.subfolder == REQUESTS:
        return None
    return place.subfolder if place.folder == INBOX and place.name is None else None


def request_name(place: Place) -> str | None:
    """The export a request file ``/inbox/requests/<export>`` names, or None."""
    if place.folder == INBOX and place.subfolder == REQUESTS:
        return place.name
    return None
