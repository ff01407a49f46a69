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

import logging
import sys
import threading
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

_FIXED = ("time", "level", "logger", "event")
_NAMES = {"asctime": "time", "levelname": "level", "name": "logger", "message": "event",
          "exc_info": "exception", "stack_info": "stack"}
"""python-json-logger's record attributes, by the key each has on our lines."""

log = logging.getLogger(__name__)


class JsonFormatter(LibraryJsonFormatter):
    """python-json-logger's formatter, set up for our lines: time, level, logger, event,
    then the extra fields (never one named like a fixed key), ``exception``/``stack``."""

    def __init__(self) -> None:
        super().__init__(["asctime", "levelname", "name", "message"], rename_fields=_NAMES,
                         reserved_attrs=[*RESERVED_ATTRS, *_FIXED], json_default=str)

    def formatTime(self, record: logging.LogRecord,  # noqa: N802 (logging's name)
                   datefmt: str | None = None) -> str:
        """ISO 8601 in UTC, to the millisecond."""
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Levels in lower case, as they always were on our lines."""
        log_data["level"] = str(log_data["level"]).lower()
        return log_data


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
