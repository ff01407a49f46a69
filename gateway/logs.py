"""Structured log lines: one JSON object per line, with the ids a record carries.

Components log with ``extra={"batch_id": ..., "upload_id": ...}``; those fields become keys.
No component passes secrets to the log; tokens and passwords are typed so that they print
as asterisks even by accident.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON object: time, level, logger, message, then extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send the gateway's logs to stderr as JSON lines; keep libraries' chatter at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("asyncssh", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
