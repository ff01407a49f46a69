"""A stand-in for a running daemon, for commands that ask whether one runs on a data dir."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.instance import running_pid

_HOLD = ("import sys, time; from pathlib import Path; from gateway.instance import hold; "
         "hold(Path(sys.argv[1])); time.sleep(300)")


@contextmanager
def running_on(data_dir: Path) -> Iterator[int]:
    """A real process that takes the data dir's lock and writes its pid file, as the daemon
    does; killed afterwards (the kernel drops its lock; the pid file stays, as after a
    crash).  Yields its pid."""
    process = subprocess.Popen([sys.executable, "-c", _HOLD, str(data_dir)])
    try:
        deadline = time.monotonic() + 30
        while running_pid(data_dir) != process.pid:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stand-in did not take the lock on {data_dir}")
            time.sleep(0.02)
        yield process.pid
    finally:
        process.kill()
        process.wait()
