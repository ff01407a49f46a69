"""The inbox a client sees: a *virtual* listing, never a real folder.

Received bytes live only in the spool, under the gateway's control; the inbox shows entries
built from records: uploads waiting to be batched (from the store), uploads received in the
last few minutes (so a client that stats its file right after uploading finds it even if the
sorter already took it), uploads being written, and this session's temp-named files awaiting
their rename.  No client request can therefore reach a spool file's inode (no chmod, no
truncate through a link), and there is no inbox entry to clean up after a crash.

Upload folders (``batch/<term_sis_id>``, ``diff/<identifier>``) are virtual too: a folder is
listed while something waits in it or when this session made it, and each lists its own
entries under the same rules as ``/inbox``.
"""

from __future__ import annotations

import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from asyncssh import SFTPAttrs, SFTPName

from gateway.intake.places import inbox_display
from gateway.state.inbox_rows import InboxRows
from gateway.state.records import UploadRecord

RECENT_SECONDS = 300.0
"""How long a received upload stays visible after the sorter has taken it."""
RECENT_MAX = 1000
FILE_MODE = stat.S_IFREG | 0o640
FOLDER_MODE = stat.S_IFDIR | 0o750


@dataclass(frozen=True)
class Entry:
    """One file in the virtual inbox, in its upload folder (None: /inbox itself)."""

    name: str
    size: int
    mtime: float
    upload_id: int | None = None
    folder: str | None = None

    @property
    def display(self) -> str:
        """The path as the client writes it; unique in an institution's inbox."""
        return inbox_display(self.folder, self.name)

    def attrs(self) -> SFTPAttrs:
        """The SFTP attributes shown for this entry."""
        return SFTPAttrs(type=1, size=self.size, permissions=FILE_MODE,
                         atime=int(self.mtime), mtime=int(self.mtime))

    def sftp_name(self) -> SFTPName:
        """The directory entry for READDIR."""
        return SFTPName(self.name.encode(), attrs=self.attrs())


def folder_attrs(mtime: float | None = None) -> SFTPAttrs:
    """Attributes of the home, its folders and the inbox's virtual folders."""
    when = int(mtime if mtime is not None else time.time())
    return SFTPAttrs(type=2, size=0, permissions=FOLDER_MODE, atime=when, mtime=when)


def folder_name(name: str) -> SFTPName:
    """The directory entry of a folder called ``name``, for READDIR."""
    return SFTPName(name.encode(), attrs=folder_attrs())


class ReceiptBook(Protocol):
    """Uploads received recently and the ones clients removed from view: this node's
    (:class:`Receipts`, in memory) or every node's (:class:`StoredReceipts`).  Reads and
    ``hide`` may block on the store: call them on the receiving threads."""

    def add(self, institution: str, received: Entry) -> None:
        """Remember a received upload (its entry has its id) for RECENT_SECONDS."""
        ...

    def recent(self, institution: str, now: float) -> list[Entry]:
        """Uploads of ``institution`` received in the last RECENT_SECONDS and not hidden,
        oldest first."""
        ...

    def hide(self, institution: str, upload_ids: Iterable[int]) -> None:
        """A client removed these from its view (the gateway keeps and processes them)."""
        ...

    def hidden_among(self, institution: str, upload_ids: Iterable[int]) -> set[int]:
        """Which of ``upload_ids`` a client removed from its view."""
        ...


class Receipts:
    """Uploads received recently, per institution, and the ones clients removed from view,
    in this process (one machine).  Thread-safe (receiving threads add, the event loop
    reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: dict[str, deque[Entry]] = {}
        self._hidden: set[int] = set()

    def add(self, institution: str, received: Entry) -> None:
        """Remember a received upload (its entry has its id) for RECENT_SECONDS."""
        with self._lock:
            recent = self._recent.setdefault(institution, deque(maxlen=RECENT_MAX))
            recent.append(received)

    def recent(self, institution: str, now: float) -> list[Entry]:
        """Uploads of ``institution`` received in the last RECENT_SECONDS, oldest first."""
        with self._lock:
            recent = self._recent.get(institution, deque())
            while recent and now - recent[0].mtime > RECENT_SECONDS:
                recent.popleft()
            return [entry for entry in recent if entry.upload_id not in self._hidden]

    def hide(self, institution: str, upload_ids: Iterable[int]) -> None:
        """A client removed these from its view (the gateway keeps and processes them)."""
        with self._lock:
            self._hidden.update(upload_ids)

    def hidden_among(self, institution: str, upload_ids: Iterable[int]) -> set[int]:
        """Which of ``upload_ids`` a client removed from its view."""
        with self._lock:
            return self._hidden.intersection(upload_ids)


class StoredReceipts:
    """Recent and hidden uploads read from the store (a cluster): a client that reconnects
    to another node sees what it received and not what it removed."""

    def __init__(self, rows: InboxRows, clock: Callable[[], float] = time.time) -> None:
        self._rows = rows
        self._clock = clock

    def add(self, institution: str, received: Entry) -> None:
        """Nothing to do: the upload's record is the receipt."""

    def recent(self, institution: str, now: float) -> list[Entry]:
        """Uploads received in the last RECENT_SECONDS, in any state, not hidden."""
        return [Entry(upload.filename, upload.size, upload.received_at, upload.id,
                      upload.folder)
                for upload in self._rows.recent(institution, now - RECENT_SECONDS,
                                                RECENT_MAX)]

    def hide(self, institution: str, upload_ids: Iterable[int]) -> None:
        """Store that a client removed these from its view."""
        self._rows.hide(institution, upload_ids, now=self._clock(),
                        keep_seconds=RECENT_SECONDS)

    def hidden_among(self, institution: str, upload_ids: Iterable[int]) -> set[int]:
        """Which of ``upload_ids`` a client removed from its view (on any node)."""
        return self._rows.hidden_among(institution, upload_ids)


def view(pending: Iterable[UploadRecord], recent: Iterable[Entry],
         live: Iterable[Entry], hidden: set[int]) -> dict[str, Entry]:
    """The inbox by display path: for a file uploaded several times the latest upload is
    shown (unless ``hidden``: removed from view), and an upload in progress or awaiting its
    rename shows over a received one."""
    shown: dict[str, Entry] = {}
    for entry in _merge(pending, recent):
        if entry.upload_id is None or entry.upload_id not in hidden:
            shown[entry.display] = entry
    for entry in live:
        shown[entry.display] = entry
    return shown


def listing(folder: str | None, entries: Iterable[Entry], made: Iterable[str]
            ) -> list[SFTPName]:
    """The directory entries of /inbox (``folder`` None), ``batch``, ``diff`` or an upload
    folder: its subfolders first, then its files."""
    shown = list(entries)
    return ([folder_name(name) for name in subfolders(folder, shown, made)]
            + [entry.sftp_name() for entry in files_in(shown, folder)])


def files_in(entries: Iterable[Entry], folder: str | None) -> list[Entry]:
    """The entries in upload folder ``folder`` (None: /inbox itself), by name."""
    return sorted((entry for entry in entries if entry.folder == folder),
                  key=lambda entry: entry.name)


def subfolders(parent: str | None, entries: Iterable[Entry], made: Iterable[str]) -> list[str]:
    """The names of the folders to list in ``parent`` (None: /inbox, else ``batch``,
    ``diff`` or an upload folder): those holding an entry, or made by this session."""
    depth = 0 if parent is None else parent.count("/") + 1
    prefix = "" if parent is None else parent + "/"
    holding = {entry.folder for entry in entries if entry.folder is not None}
    return sorted({folder.split("/")[depth] for folder in holding.union(made)
                   if folder.startswith(prefix) and folder.count("/") >= depth})


def _merge(pending: Iterable[UploadRecord], recent: Iterable[Entry]) -> Iterator[Entry]:
    """Received entries in id order, each upload once."""
    by_id = {entry.upload_id: entry for entry in recent}
    for upload in pending:
        by_id.setdefault(upload.id, Entry(upload.filename, upload.size, upload.received_at,
                                          upload.id, upload.folder))
    for upload_id in sorted(key for key in by_id if key is not None):
        yield by_id[upload_id]
