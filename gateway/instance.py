"""One gateway per data directory: an exclusive lock, and the pid file ``gateway reload`` uses.

Two daemons on one data dir would both recover, sort and post the same batches; the lock
(``flock`` on ``<data_dir>/gateway.lock``, released by the kernel when the process dies, so
a crash never leaves it stale) makes the second one stop at start with a clear message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from pathlib import Path

LOCK_NAME = "gateway.lock"
PID_NAME = "gateway.pid"


class InstanceError(Exception):
    """No lock could be taken, or no running gateway could be found; the message says why."""


def hold(data_dir: Path) -> int:
    """Take the data dir's lock for this process and write its pid; return the lock's fd
    (keep it open: closing it releases the lock).  Raises InstanceError when another
    gateway holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InstanceError(
            f"another gateway is already running on {data_dir} (pid "
            f"{_read_pid(data_dir) or 'unknown'}); stop it first, or use another data_dir"
        ) from None
    (data_dir / PID_NAME).write_text(f"{os.getpid()}\n")
    return fd


def release(data_dir: Path, fd: int) -> None:
    """Remove the pid file and drop the lock."""
    with contextlib.suppress(OSError):
        (data_dir / PID_NAME).unlink()
    os.close(fd)


def running_pid(data_dir: Path) -> int | None:
    """The pid of the gateway running on ``data_dir`` (0 if its pid file is missing), or
    None when none is: the lock is free or was never made."""
    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(data_dir) or 0  # held: a gateway is running
    finally:
        os.close(fd)  # closing drops the lock if this process took it
    return None


def signal_running(data_dir: Path, signum: signal.Signals) -> int:
    """Send ``signum`` to the gateway running on ``data_dir``; return its pid.  Raises
    InstanceError when none is running there."""
    pid = running_pid(data_dir)
    if pid is None:
        raise InstanceError(f"no gateway is running on {data_dir}")
    if not pid:
        raise InstanceError(f"a gateway holds {data_dir / LOCK_NAME} but {PID_NAME} is missing")
    os.kill(pid, signum)
    return pid


def _read_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / PID_NAME).read_text().strip())
    except (OSError, ValueError):
        return None
