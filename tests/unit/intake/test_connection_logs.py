"""What a connection's log lines say: its session id, address, port and client version on
every one, and a login as an unknown user told apart from a bad password (in the log only)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from gateway.intake.auth import UNKNOWN_USER, AccountBook, Accounts, GatewaySSHServer, Guard
from gateway.intake.bans import BanList, BanPolicy
from gateway.intake.connections import Arrivals
from gateway.intake.limits import SessionCount
from tests.institution_records import institution

CLIENT = "SSH-2.0-TestClient_1.0"


@dataclass(eq=False)
class FakeConnection:
    """The parts of an asyncssh server connection GatewaySSHServer uses."""

    peer: tuple[str, int]
    disconnected: list[str] = field(default_factory=list)

    def get_extra_info(self, name: str) -> object:
        return {"peername": self.peer, "client_version": CLIENT}.get(name)  # None: as asyncssh

    def disconnect(self, code: int, reason: str) -> None:
        self.disconnected.append(reason)

    def abort(self) -> None:
        raise AssertionError("not aborted in these tests")


@dataclass
class Passwords:
    """Stands in for PasswordChecker: every password is wrong; the checks are recorded."""

    checks: list[tuple[str, bool]] = field(default_factory=list)

    async def check(self, username: str, password_hash: str | None, password: str, *,
                    known: bool = True) -> bool:
        self.checks.append((username, known))
        return False


def _guard(passwords: Passwords) -> Guard:
    alpha = institution("alpha", password_hash="$argon2id$stand-in")
    return Guard(book=AccountBook(Accounts.of([alpha])), passwords=cast(Any, passwords),
                 bans=BanList(BanPolicy(failures=100, window=60, ban=100, ban_max=100)),
                 arrivals=Arrivals(10), sessions=SessionCount(), max_auth_tries=100)


def _connect(guard: Guard, port: int) -> GatewaySSHServer:
    server = GatewaySSHServer(guard)
    server.connection_made(cast(Any, FakeConnection(("192.0.2.1", port))))
    return server


def _try(server: GatewaySSHServer, username: str) -> bool:
    server.begin_auth(username)
    return asyncio.run(server.validate_password(username, "guess"))


def _refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [vars(r) for r in caplog.records if r.getMessage() == "login refused"]


def test_an_unknown_user_is_logged_as_such_after_a_full_password_check(
        caplog: pytest.LogCaptureFixture) -> None:
    passwords = Passwords()
    server = _connect(_guard(passwords), 40001)
    with caplog.at_level(logging.WARNING):
        assert not _try(server, "mallory")
        assert not _try(server, "alpha")
    assert [r["reason"] for r in _refusals(caplog)] == [UNKNOWN_USER, "bad password"]
    assert [r["username"] for r in _refusals(caplog)] == ["mallory", "alpha"]
    # The unknown user's check still ran (as long as a real one), flagged as unknown.
    assert passwords.checks == [("mallory", False), ("alpha", True)]


def test_every_line_of_a_connection_carries_its_session_address_and_client(
        caplog: pytest.LogCaptureFixture) -> None:
    guard = _guard(Passwords())
    first, second = _connect(guard, 40001), _connect(guard, 40002)
    with caplog.at_level(logging.WARNING):
        for server in (first, second, first):
            assert not _try(server, "alpha")
    lines = _refusals(caplog)
    assert [(r["peer"], r["peer_port"], r["client_version"]) for r in lines] == [
        ("192.0.2.1", 40001, CLIENT), ("192.0.2.1", 40002, CLIENT),
        ("192.0.2.1", 40001, CLIENT)]
    sessions = [r["session"] for r in lines]
    assert sessions[0] == sessions[2] != sessions[1]
    assert all(isinstance(s, str) and len(s) == 8 for s in sessions)
