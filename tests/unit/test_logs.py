"""The JSON log line: one event and its fields; bound fields; nothing printed outside it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.logs import Bound, JsonFormatter

REPO = Path(__file__).resolve().parents[2]


def _line(record: logging.LogRecord) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(JsonFormatter().format(record))
    return parsed


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "gateway.test", "levelname": "WARNING",
                                    "levelno": logging.WARNING, "msg": msg, "args": args})
    record.__dict__.update(extra)
    return record


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_line_is_the_event_and_its_fields() -> None:
    line = _line(_record("upload refused", institution="alpha", reason="too big"))
    assert list(line)[:4] == ["time", "level", "logger", "event"]
    assert (line["level"], line["logger"], line["event"]) == ("warning", "gateway.test",
                                                              "upload refused")
    assert (line["institution"], line["reason"]) == ("alpha", "too big")


def test_a_field_never_replaces_the_fixed_keys() -> None:
    line = _line(_record("login refused", event="forged", level="debug", logger="x"))
    assert (line["event"], line["level"], line["logger"]) == ("login refused", "warning",
                                                              "gateway.test")


def test_a_library_that_interpolates_keeps_its_text_as_the_event() -> None:
    assert _line(_record("[conn=%d] lost", 7))["event"] == "[conn=7] lost"


def test_bound_fields_go_on_every_line_and_follow_later_changes() -> None:
    logger = logging.getLogger("gateway.test.bound")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        fields: dict[str, object] = {"session": "ab12cd34"}
        bound = Bound(logger, fields)
        bound.warning("login refused", extra={"reason": "bad password"})
        fields["client_version"] = "SSH-2.0-x"
        bound.warning("idle session closed")
    finally:
        logger.removeHandler(handler)
    first, second = (_line(record) for record in handler.records)
    assert (first["session"], first["reason"]) == ("ab12cd34", "bad password")
    assert "client_version" not in first
    assert (second["session"], second["client_version"]) == ("ab12cd34", "SSH-2.0-x")


def test_warnings_and_uncaught_exceptions_are_json_lines() -> None:
    code = ("import threading, warnings\n"
            "from gateway.logs import configure_logging\n"
            "configure_logging()\n"
            "warnings.warn('old thing', DeprecationWarning, stacklevel=1)\n"
            "thread = threading.Thread(target=lambda: 1 / 0, name='worker')\n"
            "thread.start(); thread.join()\n"
            "raise RuntimeError('boom')\n")
    done = subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["event"] for line in lines][1:] == ["uncaught exception in a thread",
                                                     "uncaught exception"]
    assert "old thing" in lines[0]["event"]
    assert lines[1]["thread_name"] == "worker"
    assert "ZeroDivisionError" in lines[1]["exception"]
    assert "RuntimeError: boom" in lines[2]["exception"]
