"""Connection defences: the per-address cap on connections logging in, bans closing them, an
overloaded password check that counts toward nothing, and the idle watch."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pydantic import SecretStr

from gateway.institutions import CanvasTarget, Institution
from gateway.intake.auth import AccountBook, Accounts, GatewaySSHServer, Guard
from gateway.intake.bans import BanList, BanPolicy, networks
from gateway.intake.config import IntakeOptions
from gateway.intake.connections import Arrivals, IdleWatch
from gateway.intake.limits import SessionCount
from gateway.intake.passwords import OverloadedError
from gateway.web.metrics import SFTP_SESSIONS


@dataclass(eq=False)
class FakeConnection:
    """The parts of an asyncssh server connection GatewaySSHServer uses."""

    peer: str
    disconnected: list[str] = field(default_factory=list)
    aborted: bool = False

    def get_extra_info(self, name: str) -> tuple[str, int] | None:
        assert name in ("peername", "balancer")
        return (self.peer, 40000) if name == "peername" else None  # a direct client

    def disconnect(self, code: int, reason: str) -> None:
        self.disconnected.append(reason)

    def abort(self) -> None:
        self.aborted = True


class Passwords:
    """Stands in for PasswordChecker: every check is overloaded, or every password wrong."""

    def __init__(self, overloaded: bool) -> None:
        self.overloaded = overloaded

    async def check(self, username: str, password_hash: str | None, password: str, *,
                    known: bool = True) -> bool:
        if self.overloaded:
            raise OverloadedError
        return False


def _guard(passwords: Passwords, limit: int = 10) -> Guard:
    return Guard(book=AccountBook(Accounts.of([])), passwords=cast(Any, passwords),
                 bans=BanList(BanPolicy(failures=3, window=60, ban=100, ban_max=100)),
                 arrivals=Arrivals(limit), sessions=SessionCount(), max_auth_tries=100)


def _connect(guard: Guard, peer: str) -> tuple[GatewaySSHServer, FakeConnection]:
    server, conn = GatewaySSHServer(guard), FakeConnection(peer)
    server.connection_made(cast(Any, conn))
    return server, conn


def test_an_address_may_have_only_its_cap_of_connections_logging_in() -> None:
    guard = _guard(Passwords(overloaded=False), limit=2)
    first, _ = _connect(guard, "192.0.2.1")
    _connect(guard, "192.0.2.1")
    _, third = _connect(guard, "192.0.2.1")
    assert third.aborted
    _, elsewhere = _connect(guard, "192.0.2.2")
    assert not elsewhere.aborted
    first.connection_lost(None)  # a place is free again
    _, again = _connect(guard, "192.0.2.1")
    assert not again.aborted


def test_safelisted_networks_are_not_capped() -> None:
    arrivals = Arrivals(1, exempt=networks(["10.0.0.0/8"]))
    assert all(arrivals.arrive("10.1.2.3", cast(Any, object())) for _ in range(5))
    assert arrivals.arrive("192.0.2.1", cast(Any, object()))
    assert not arrivals.arrive("192.0.2.1", cast(Any, object()))


def test_a_ban_closes_every_connection_of_the_address_still_logging_in() -> None:
    guard = _guard(Passwords(overloaded=False))
    opened = [_connect(guard, "192.0.2.1")[1] for _ in range(3)]
    _, other = _connect(guard, "192.0.2.2")
    attacker, _ = _connect(guard, "192.0.2.1")
    for _ in range(3):
        assert not asyncio.run(attacker.validate_password("alpha", "guess"))
    assert guard.bans.banned_for("192.0.2.1") > 0
    assert all(conn.disconnected for conn in opened)
    assert not other.disconnected


def test_an_overloaded_check_is_no_failed_login(caplog: pytest.LogCaptureFixture) -> None:
    guard = _guard(Passwords(overloaded=True))
    with caplog.at_level(logging.WARNING):
        for _ in range(10):
            server, conn = _connect(guard, "192.0.2.1")
            assert not asyncio.run(server.validate_password("alpha", "guess"))
            assert conn.disconnected == [
                "the gateway is busy checking passwords; try again in a few seconds"]
            server.connection_lost(None)
    assert guard.bans.banned_for("192.0.2.1") == 0
    assert "password check refused: too many checks waiting" in caplog.text
    assert [r for r in caplog.records if r.getMessage() == "login refused"] == []


def test_the_idle_watch_fires_once_after_the_last_touch() -> None:
    async def watch() -> tuple[int, int]:
        fired: list[float] = []
        loop = asyncio.get_running_loop()
        # Touched every 0.1 s for 1.5 s: not idle (0.9 s of slack for a loaded machine).
        idle = IdleWatch(1.0, lambda: fired.append(loop.time()))
        for _ in range(15):
            await asyncio.sleep(0.1)
            idle.touch()
        touched_until = len(fired)
        await asyncio.sleep(2.0)
        idle.stop()
        return touched_until, len(fired)

    assert asyncio.run(watch()) == (0, 1)


def test_a_stopped_idle_watch_never_fires() -> None:
    async def watch() -> int:
        fired: list[int] = []
        idle = IdleWatch(0.2, lambda: fired.append(1))
        idle.stop()
        await asyncio.sleep(0.4)
        return len(fired)

    assert asyncio.run(watch()) == 0


class StoreSessions:
    """Stands in for SharedSessions (a count in the store): each enter waits for ``answer``
    and reports the thread it ran on."""

    def __init__(self, counted: bool) -> None:
        self.executor: Executor | None = ThreadPoolExecutor(1, thread_name_prefix="test-counts")
        self.counted = counted
        self.answer = threading.Event()
        self.threads: list[str] = []
        self.left: list[str] = []

    def enter(self, institution: str, limit: int) -> bool:
        self.threads.append(threading.current_thread().name)
        assert self.answer.wait(10)
        return self.counted

    def leave(self, institution: str) -> None:
        self.left.append(institution)


def _logged_in(sessions: StoreSessions) -> tuple[GatewaySSHServer, FakeConnection]:
    guard = dataclasses.replace(_guard(Passwords(overloaded=False)), sessions=sessions)
    server, conn = _connect(guard, "192.0.2.1")
    server._candidate = Institution(  # what a successful password or key check sets
        name="alpha", username="alpha", password_hash=None, authorized_keys=(),
        canvas=CanvasTarget("https://canvas.example.edu", "1", SecretStr("token")),
        report_to=(), report_cc=(), intake=IntakeOptions(max_sessions=1))
    return server, conn


async def _counting(server: GatewaySSHServer, sessions: StoreSessions) -> None:
    """Complete the login while the store is still counting, and show the loop runs on."""
    server.auth_completed()
    await asyncio.sleep(0.05)  # the loop serves others while the count waits
    assert sessions.threads
    assert threading.current_thread().name not in sessions.threads
    sessions.answer.set()
    deadline = time.monotonic() + 10
    while server._admission is None or not server._admission.done():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("counted", [True, False])
def test_a_cluster_counts_a_session_off_the_event_loop(counted: bool) -> None:
    sessions = StoreSessions(counted)
    server, conn = _logged_in(sessions)
    asyncio.run(_counting(server, sessions))
    if counted:
        assert conn.disconnected == []
    else:
        assert conn.disconnected == ["alpha already has 1 sessions open (max_sessions); "
                                     "close one and try again"]


def test_a_session_counted_after_its_client_left_is_uncounted() -> None:
    sessions = StoreSessions(counted=True)
    server, conn = _logged_in(sessions)
    live = SFTP_SESSIONS.labels(institution="alpha")
    before = live._value.get()

    async def leaves_early() -> None:
        server.auth_completed()
        await asyncio.sleep(0.05)
        server.connection_lost(None)
        sessions.answer.set()
        deadline = time.monotonic() + 10
        while not sessions.left:
            assert time.monotonic() < deadline, "the count was never undone"
            await asyncio.sleep(0.01)

    asyncio.run(leaves_early())
    assert sessions.left == ["alpha"]
    assert conn.disconnected == []
    assert live._value.get() == before  # never admitted: not counted among live sessions


def test_a_count_that_fails_unexpectedly_refuses_the_session(
        caplog: pytest.LogCaptureFixture) -> None:
    sessions = StoreSessions(counted=True)
    server, conn = _logged_in(sessions)

    def broken(institution: str, limit: int) -> bool:
        raise RuntimeError("a bug")

    sessions.enter = broken  # type: ignore[method-assign]

    async def logs_in() -> None:
        server.auth_completed()
        assert server._admission is not None
        await server._admission

    with caplog.at_level(logging.ERROR):
        asyncio.run(logs_in())
    assert conn.disconnected == ["the gateway cannot reach its database right now; nothing "
                                 "can be received, try again in a few minutes"]
    assert "session refused: it could not be counted" in caplog.text
