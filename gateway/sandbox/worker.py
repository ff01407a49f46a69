"""One daemon thread of the sandbox's job machinery (an account's processor, the delayed-job
runner): started once, it runs until the shared stop event is set and its loop returns."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class SandboxWorker(ABC):
    """A named daemon thread running :meth:`_run`; stop it by setting the shared event."""

    def __init__(self, name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end; the caller must have set the stop event first."""
        self._thread.join(timeout)

    @abstractmethod
    def _run(self) -> None:
        """The thread's loop; returns once the stop event is set."""
