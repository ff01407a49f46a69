"""Uploads being written on the other nodes of a cluster, as the receiver must count them.

One machine (the default, :class:`ThisNodeOnly`): the receiver's own open writers are every
upload there is; nothing is shared and nothing costs a store round-trip.  A cluster
(:class:`SharedInFlight`): each upload's open and end are written to the store
(``gateway.state.open_uploads``) and a thread refreshes the bytes so far of this node's
open uploads every ``refresh_seconds`` (never per SFTP write), pushing their expiry
``expiry_seconds`` ahead; a node that dies stops refreshing, and its rows stop counting
once they expire.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from gateway.intake.uploads import UploadWriter
from gateway.state.open_uploads import InFlight, OpenUploads

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
EXPIRY_SECONDS = 30.0


class InFlightShare(Protocol):
    """What the receiver tells, and asks, about uploads being written on other nodes."""

    def opened(self, writer: UploadWriter) -> None:
        """``writer`` opened on this node (durably shared before it returns)."""

    def closed(self, writer: UploadWriter) -> None:
        """``writer`` ended on this node (after its upload record, if any, is committed)."""

    def elsewhere(self, institution: str) -> InFlight:
        """The institution's uploads being written on other nodes now."""

    def start(self, writers: Callable[[], list[UploadWriter]]) -> None:
        """Begin refreshing the bytes of this node's open ``writers()``."""

    def stop(self) -> None:
        """Stop refreshing (at shutdown)."""


class ThisNodeOnly:
    """One machine: no other node, nothing to share."""

    def opened(self, writer: UploadWriter) -> None:
        """Nothing to share."""

    def closed(self, writer: UploadWriter) -> None:
        """Nothing to share."""

    def elsewhere(self, institution: str) -> InFlight:
        """No other node."""
        return InFlight()

    def start(self, writers: Callable[[], list[UploadWriter]]) -> None:
        """Nothing to refresh."""

    def stop(self) -> None:
        """Nothing to stop."""


class SharedInFlight:
    """Open uploads shared through the store's ``open_uploads`` rows."""

    def __init__(self, rows: OpenUploads, *, clock: Callable[[], float] = time.time,
                 refresh_seconds: float = REFRESH_SECONDS,
                 expiry_seconds: float = EXPIRY_SECONDS) -> None:
        if expiry_seconds <= 2 * refresh_seconds:
            raise ValueError("expiry_seconds must exceed two refresh periods, or a slow "
                             "refresh lets a live upload expire")
        self._rows = rows
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._expiry_seconds = expiry_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def opened(self, writer: UploadWriter) -> None:
        """Write the upload's row (its expiry one period ahead)."""
        self._rows.add(writer.path.name, writer.institution,
                       self._clock() + self._expiry_seconds)

    def closed(self, writer: UploadWriter) -> None:
        """Delete the upload's row; if the store cannot be reached, it expires instead."""
        try:
            self._rows.remove(writer.path.name)
        except Exception:
            log.exception("open upload not unshared; its row expires instead", extra={
                **writer.log_fields, "institution": writer.institution, "file": writer.name,
                "expires_in_seconds": self._expiry_seconds})

    def elsewhere(self, institution: str) -> InFlight:
        """Rows of other nodes, not expired."""
        return self._rows.elsewhere(institution, self._clock())

    def start(self, writers: Callable[[], list[UploadWriter]]) -> None:
        """Forget what a previous run of this node left, then refresh on a thread."""
        self._rows.forget_node()
        self._thread = threading.Thread(target=self._refreshing, args=(writers,),
                                        name="open-uploads", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the refreshing thread and wait for it."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def refresh(self, writers: list[UploadWriter]) -> None:
        """Publish the bytes so far of ``writers`` and push their expiry (one transaction)."""
        now = self._clock()
        self._rows.refresh([(writer.path.name, writer.size) for writer in writers],
                           now + self._expiry_seconds, now)

    def _refreshing(self, writers: Callable[[], list[UploadWriter]]) -> None:
        while not self._stopping.wait(self._refresh_seconds):
            try:
                self.refresh(writers())
            except Exception:  # the next period tries again; rows expire meanwhile
                log.exception("open uploads not refreshed in the store")
