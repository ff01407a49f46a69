"""Export requests: a file uploaded as ``/inbox/requests/<export>`` asks for a run of it.

The file is never received as an upload (the sorter never sees it, no report is written for
it): its name is the request and its contents are ignored (at most ``MAX_REQUEST_BYTES``
are accepted, so the folder cannot be used to store data).  The request is handed over when
the client closes the file cleanly; a close that fails says why (no such export, naming the
exports that can be requested; exports not running; or asked again too soon).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncssh

REQUESTS = "requests"
MAX_REQUEST_BYTES = 4096

RequestHandler = Callable[[str, str], object]
"""Takes (institution, export name); raises LookupError, whose text is shown to the client,
when the institution has no such export to request, or RequestRefusedError (its text shown
too) when the export exists but takes no request now."""


class RequestRefusedError(Exception):
    """A request for an existing export refused for now (asked too soon after the last);
    ``str()`` tells the client why and when to ask again."""


@dataclass
class RequestFile:
    """A request file being written by one session."""

    name: str
    size: int = 0
    mtime: float = field(default_factory=time.time)

    @property
    def display(self) -> str:
        """The path as the client wrote it."""
        return f"/inbox/{REQUESTS}/{self.name}"

    def write(self, offset: int, data: bytes) -> None:
        """Accept (and drop) request bytes, up to MAX_REQUEST_BYTES."""
        end = offset + len(data)
        if end > MAX_REQUEST_BYTES:
            raise asyncssh.SFTPFailure(f"{self.display}: a request file holds at most "
                                       f"{MAX_REQUEST_BYTES} bytes (its name is the request)")
        self.size = max(self.size, end)

    def attrs(self) -> asyncssh.SFTPAttrs:
        """What stat shows for it (read-only once sent)."""
        return asyncssh.SFTPAttrs(type=1, size=self.size, permissions=0o100444,
                                  atime=int(self.mtime), mtime=int(self.mtime))


class RequestDesk:
    """Where request files go; ``handler`` and ``requestable`` (an institution's exports
    that may be requested) are set by the composition root when exports run."""

    def __init__(self) -> None:
        self.handler: RequestHandler | None = None
        self.requestable: Callable[[str], tuple[str, ...]] = lambda _: ()
        self.refusal: Callable[[str, str], str | None] = lambda _, __: None
        """(institution, export) -> why a request would be refused now, or None; asked at
        open only to tell the client early: the handler decides, at close."""

    def check(self, institution: str, name: str) -> None:
        """Refuse at open a request no export answers (some clients ignore a failed close),
        naming those that can be requested: raises SFTPNoSuchFile; or one the export takes
        no more now (asked again too soon), saying when to ask: raises SFTPFailure."""
        names = self.requestable(institution)
        if name not in names:
            raise asyncssh.SFTPNoSuchFile(
                f"/inbox/{REQUESTS}/{name}: no export {name!r} can be requested; the exports "
                f"are: {', '.join(names) or 'none'}")
        why = self.refusal(institution, name)
        if why is not None:
            raise asyncssh.SFTPFailure(f"/inbox/{REQUESTS}/{name}: {why}")

    async def submit(self, institution: str, request: RequestFile) -> None:
        """Hand the request over (in a worker thread: the store is written).  Raises
        SFTPNoSuchFile naming the requestable exports when there is no such export, and
        SFTPFailure saying why when the export takes no request now."""
        handler = self.handler
        if handler is None:
            raise asyncssh.SFTPNoSuchFile(f"{request.display}: no exports are configured")
        try:
            await asyncio.to_thread(handler, institution, request.name)
        except LookupError as error:
            raise asyncssh.SFTPNoSuchFile(f"{request.display}: {error.args[0]}") from None
        except RequestRefusedError as error:
            raise asyncssh.SFTPFailure(f"{request.display}: {error}") from None
