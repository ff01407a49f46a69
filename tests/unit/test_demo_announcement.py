"""The demo's announcement: always a log event; the human banner only at a terminal."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from gateway.demo import DEMO_LOGIN_HINT, announce_demo


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [io.StringIO(), Terminal()], ids=["pipe", "terminal"])
def test_the_demo_is_announced_as_an_event_and_to_a_person_at_a_terminal(
        terminal: io.StringIO, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.demo"):
        announce_demo(host="127.0.0.1", port=2222, mail=Path("/data/mail"),
                      http_url="http://127.0.0.1:8080/", terminal=terminal)
    [event] = [vars(r) for r in caplog.records if r.getMessage() == "demo mode"]
    assert (event["sftp_port"], event["user"], event["http_url"]) == (
        2222, "demo", "http://127.0.0.1:8080/")
    assert event["login_hint"] == DEMO_LOGIN_HINT  # a hint: passwords are never logged
    printed = terminal.getvalue()
    assert ("DEMO MODE" in printed) is terminal.isatty()
    if printed:
        assert "sftp -P 2222 demo@127.0.0.1" in printed
