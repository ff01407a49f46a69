"""Liveness and readiness, as /healthz and /readyz (and ``gateway check http``) report them.

*Alive* means the daemon's event loop still turns: it stamps a heartbeat every second, and
a stamp older than :data:`STALL_SECONDS` means the loop is stuck (a restart would help).
*Ready* means new uploads can be taken safely: the store takes a write lock, the data volume
accepts a file, free space is above the floor, and the SFTP listener is up.  Each probe is
cheap (one empty write transaction, one tiny file, one ``statvfs``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.state.database import StoreUnavailable
from gateway.state.diskspace import disk_space
from gateway.state.protocols import StateStore

STALL_SECONDS = 30.0
"""A heartbeat older than this means the event loop is stuck."""

_BEAT_SECONDS = 1.0
_PROBE_FILE = ".ready-probe"


@dataclass(frozen=True)
class Probe:
    """One check: its name, whether it passed, and a line for people."""

    name: str
    ok: bool
    detail: str


class Health:
    """Shared between the daemon (which updates it) and the HTTP threads (which read it)."""

    def __init__(self, store: StateStore, data_dir: Path, floor_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._data_dir = data_dir
        self._floor_bytes = floor_bytes
        self._clock = clock
        self._last_beat = clock()
        self.sftp_port: int | None = None
        """Set by the daemon once SFTP listens, cleared when it stops listening."""

    def beat(self) -> None:
        """Record that the event loop is turning."""
        self._last_beat = self._clock()

    async def heartbeat(self) -> None:
        """Beat every second until cancelled (run as a task on the daemon's loop)."""
        while True:
            self.beat()
            await asyncio.sleep(_BEAT_SECONDS)

    def alive(self) -> Probe:
        """Whether the event loop has beaten within STALL_SECONDS."""
        silent = self._clock() - self._last_beat
        if silent > STALL_SECONDS:
            return Probe("event loop", False, f"no heartbeat for {silent:.0f}s")
        return Probe("event loop", True, "turning")

    def ready(self) -> list[Probe]:
        """Every readiness probe, in a fixed order; ready when all pass."""
        return [self.alive(), self._store_writable(), self._volume_writable(),
                self._disk(), self._sftp()]

    def _store_writable(self) -> Probe:
        try:
            with self._store.transaction():
                pass  # a write transaction began: a writer could commit now
        except StoreUnavailable as error:
            return Probe("store", False, f"cannot take the write lock: {error}")
        return Probe("store", True, "writable")

    def _volume_writable(self) -> Probe:
        probe = self._data_dir / _PROBE_FILE
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"ok")
            finally:
                os.close(fd)
            probe.unlink()
        except OSError as error:
            return Probe("data volume", False, f"cannot write in {self._data_dir}: "
                                               f"{error.strerror}")
        return Probe("data volume", True, f"writable ({self._data_dir})")

    def _disk(self) -> Probe:
        try:
            space = disk_space(self._data_dir, self._floor_bytes)
        except OSError as error:
            return Probe("disk space", False, f"cannot measure: {error.strerror}")
        return Probe("disk space", space.above_floor, space.describe())

    def _sftp(self) -> Probe:
        if self.sftp_port is None:
            return Probe("sftp", False, "not listening")
        return Probe("sftp", True, f"listening on port {self.sftp_port}")
