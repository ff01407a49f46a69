"""Structured log lines: one JSON object per line, one event name plus the fields involved.

A component logs a fixed event name as the message and the values as fields, never values
interpolated into the message::

    log.warning("upload refused", extra={"institution": name, "reason": why})

which prints ``{"time": ..., "level": "warning", "logger": ..., "event": "upload refused",
"institution": ..., "reason": ...}``.  ``time``, ``level``, ``logger`` and ``event`` are on
every line; a field of the same name never replaces them.  Records from libraries that
interpolate (asyncssh, urllib3) keep their formatted text as the event.

Once :func:`configure_logging` ran, nothing the process writes to stderr is plain text: Python
warnings and uncaught exceptions (any thread) become log lines with an ``exception`` field.

No component passes secrets to the log; tokens and passwords are typed so that they print
as asterisks even by accident.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_FIXED = ("time", "level", "logger", "event")

log = logging.getLogger(__name__)


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON object: time, level, logger, event, then extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one line (no newline inside: the JSON escapes them)."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _FIXED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


class Bound(logging.LoggerAdapter[logging.Logger]):
    """A logger that adds ``fields`` to every record (a call's own ``extra`` adds more).

    ``fields`` is read at each call, so fields learnt later (an SSH client's version once it
    has sent it) appear on the lines logged from then on.
    """

    def __init__(self, logger: logging.Logger, fields: Mapping[str, object]) -> None:
        super().__init__(logger, fields)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]
                ) -> tuple[Any, MutableMapping[str, Any]]:
        """Merge the bound fields under the call's ``extra``."""
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def configure_logging(level: str = "INFO") -> None:
    """Send the gateway's logs to stderr as JSON lines; keep libraries' chatter at WARNING;
    route Python warnings and uncaught exceptions (main thread and others) through them."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("asyncssh", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], error: BaseException,
                  trace: TracebackType | None) -> None:
    """sys.excepthook: the exception that ends the process, as one log line."""
    log.critical("uncaught exception", exc_info=(kind, error, trace))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: an exception that ends a thread, as one log line."""
    if args.exc_value is None:
        return
    log.error("uncaught exception in a thread",
              exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
              extra={"thread_name": args.thread.name if args.thread else None})
