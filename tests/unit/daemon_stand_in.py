"""A stand-in for a running daemon, for commands that ask whether one runs on a data dir."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.instance import PID_NAME


@contextmanager
def running_on(data_dir: Path) -> Iterator[int]:
    """A real process named like the gateway, its pid in the data dir's pid file (as the
    daemon writes it); removed afterwards.  Yields its pid."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)",
                                "gateway", "serve"])
    (data_dir / PID_NAME).write_text(f"{process.pid}\n")
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()
        (data_dir / PID_NAME).unlink()
