"""One gateway per data directory: an exclusive lock, and the files the commands find the
running daemon by: its pid (``gateway.pid``) and its HTTP address (``gateway.http``).

Two daemons on one data dir would both recover, sort and post the same batches; the lock
(``flock`` on ``<data_dir>/gateway.lock``, released by the kernel when the process dies, so
a crash never leaves it stale) makes the second one stop at start with a clear message.
Whether a daemon runs is read from its pid and the kernel's list of locks (``/proc/locks``)
without touching the lock: a probe that took the lock for a moment (``gateway status``, the
container's health check) could make a daemon starting at that instant refuse to start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from pathlib import Path

LOCK_NAME = "gateway.lock"
PID_NAME = "gateway.pid"
HTTP_NAME = "gateway.http"


class InstanceError(Exception):
    """No lock could be taken, or no running gateway could be found; the message says why."""


def hold(data_dir: Path) -> int:
    """Take the data dir's lock for this process, forget the HTTP address of an earlier run
    and write its pid; return the lock's fd (keep it open: closing it releases the lock).
    Raises InstanceError when another gateway holds it."""
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
    # A run killed before it could clean up left its address: this run has not answered
    # there yet (and may have no HTTP port at all), so nobody must ask it.
    with contextlib.suppress(FileNotFoundError):
        (data_dir / HTTP_NAME).unlink()
    (data_dir / PID_NAME).write_text(f"{os.getpid()}\n")
    return fd


def release(data_dir: Path, fd: int) -> None:
    """Remove the pid and address files and drop the lock."""
    for name in (PID_NAME, HTTP_NAME):
        with contextlib.suppress(OSError):
            (data_dir / name).unlink()
    os.close(fd)


def announce_http(data_dir: Path, address: str) -> None:
    """Record where the running daemon's HTTP port answers (``127.0.0.1:8080``)."""
    (data_dir / HTTP_NAME).write_text(f"{address}\n")


def http_address(data_dir: Path) -> str | None:
    """The running daemon's HTTP ``host:port``, if it has an HTTP port."""
    try:
        return (data_dir / HTTP_NAME).read_text().strip() or None
    except OSError:
        return None


def running_pid(data_dir: Path) -> int | None:
    """The pid of the gateway running on ``data_dir``, or None when none is: no pid file,
    or its process does not hold the data dir's lock (it is gone, or its pid, left in the
    file by a crash, now belongs to another process, whatever its command line says)."""
    pid = _read_pid(data_dir)
    if pid is None or pid == os.getpid():  # a stale file naming this very probe
        return None
    return pid if _holds_lock(pid, data_dir / LOCK_NAME) else None


def _holds_lock(pid: int, lock: Path) -> bool:
    """Whether process ``pid`` holds the ``flock`` on ``lock``, read from ``/proc/locks``
    (a line per lock: ``1: FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF``;
    waiters have ``->`` in the second field).  Matched by inode only: on btrfs and overlay
    file systems ``stat``'s device is not the one the kernel lists."""
    try:
        inode = str(os.stat(lock).st_ino)
        listing = Path("/proc/locks").read_text()
    except OSError:
        return False
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[4] == str(pid) \
                and fields[5].rsplit(":", 1)[-1] == inode:
            return True
    return False


def signal_running(data_dir: Path, signum: signal.Signals) -> int:
    """Send ``signum`` to the gateway running on ``data_dir``; return its pid.  Raises
    InstanceError when none is running there."""
    pid = running_pid(data_dir)
    if pid is None:
        raise InstanceError(f"no gateway is running on {data_dir}")
    os.kill(pid, signum)
    return pid


def _read_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / PID_NAME).read_text().strip())
    except (OSError, ValueError):
        return None
