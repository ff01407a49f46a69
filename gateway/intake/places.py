"""Where a client path points inside an institution's home, and which names are acceptable.

The home has exactly two folders: ``/inbox`` (uploads) and ``/reports`` (results).  Every
SFTP request resolves its path here first; anything that is not the root, one of the two
folders or one plain file name inside one of them is refused with an error saying what is
wrong and what to do.  Nothing here touches the filesystem, so it cannot be tricked by links.
"""

from __future__ import annotations

import posixpath
import unicodedata
from dataclasses import dataclass

import asyncssh

INBOX = "inbox"
REPORTS = "reports"
FOLDERS = (INBOX, REPORTS)
MAX_NAME_BYTES = 255
_LAYOUT = "only /inbox (uploads) and /reports (results) exist here"


@dataclass(frozen=True)
class Place:
    """The root (folder and name None), a folder (name None), or a file in a folder."""

    folder: str | None
    name: str | None

    @property
    def display(self) -> str:
        """The path as the client would write it."""
        return "/" + "/".join(part for part in (self.folder, self.name) if part)


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
    if parts[0] not in FOLDERS or len(parts) > 2:
        raise asyncssh.SFTPNoSuchFile(f"/{'/'.join(parts)}: {_LAYOUT}")
    if len(parts) == 2 and len(parts[1].encode()) > MAX_NAME_BYTES:
        raise asyncssh.SFTPInvalidFilename(
            f"{parts[1][:40]}...: file names are limited to {MAX_NAME_BYTES} bytes")
    return Place(parts[0], parts[1] if len(parts) == 2 else None)


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
