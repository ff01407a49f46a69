"""Logins under attack, with real clients on loopback (issue 11, findings 2-4).

Linux routes all of 127.0.0.0/8 to the loopback interface, so clients bound to 127.0.x.y
reach the gateway on 127.0.0.1 from addresses of their own: an attacker's addresses are not
the honest vendor's, as on the Internet.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncssh
import paramiko
import pytest
from argon2 import PasswordHasher

from tests.integration.gateway_process import Account, GatewayProcess, wait_for
from tests.integration.sftp_clients import paramiko_session, paramiko_transport

HONEST = "127.0.0.1"
BUSY = "try again"


def _events(intake: GatewayProcess, event: str, **fields: object) -> list[dict[str, Any]]:
    """The gateway's log records of ``event`` whose ``fields`` have these values."""
    records = map(json.loads, intake.logs().splitlines())
    return [record for record in records if record["event"] == event
            and all(record.get(key) == value for key, value in fields.items())]


def _refused(port: int, source: str) -> bool:
    """Whether the gateway drops a new connection from ``source`` before its key exchange."""
    try:
        paramiko_transport(port, source).close()
    except (paramiko.SSHException, EOFError, OSError):
        return True
    return False


# -- finding 2: a spray against one institution never refuses another's login --------------

@dataclass
class Spray:
    """What the spraying clients saw, by outcome, and per address."""

    outcomes: Counter[str] = field(default_factory=Counter)
    busy_addresses: set[str] = field(default_factory=set)
    finished_addresses: set[str] = field(default_factory=set)
    """Addresses that got their two real verdicts (used to the end of their turn)."""


async def _guess(port: int, username: str, source: str) -> str:
    """One wrong-password login from ``source``: 'bad', 'busy' or 'dropped'."""
    try:
        conn = await asyncssh.connect(
            "127.0.0.1", port, username=username, password="wrong-guess",
            local_addr=(source, 0), known_hosts=None, agent_path=None, client_keys=None,
            preferred_auth="password", connect_timeout=10, login_timeout=20)
    except asyncssh.PermissionDenied:
        return "bad"
    except asyncssh.DisconnectError as error:
        return "busy" if BUSY in error.reason else f"dropped: {error.reason}"
    except OSError as error:
        return f"dropped: {error}"
    conn.close()
    return "logged in"


async def _sprayer(number: int, port: int, username: str, spray: Spray,
                   stop: asyncio.Event) -> None:
    """Guess until ``stop``, moving to a fresh address after every two real verdicts: one
    address below ban_failures (3) unless overloads were counted too."""
    for turn in range(1000):
        source = f"127.1.{number}.{turn + 1}"
        verdicts = 0
        while verdicts < 2:
            if stop.is_set():
                return
            outcome = await _guess(port, username, source)
            spray.outcomes[outcome] += 1
            if outcome == "busy":
                spray.busy_addresses.add(source)
                await asyncio.sleep(0.1)  # told to try again, it does, a moment later
            else:
                verdicts += 1
        spray.finished_addresses.add(source)


async def _honest_login(port: int, account: Account) -> str:
    """Log in by password from the honest address and list the home; 'ok' or the error."""
    try:
        async with asyncssh.connect(
                "127.0.0.1", port, username=account.name, password=account.password,
                local_addr=(HONEST, 0), known_hosts=None, agent_path=None, client_keys=None,
                preferred_auth="password", connect_timeout=10, login_timeout=20) as conn, \
                conn.start_sftp_client() as sftp:
            listed = sorted(await sftp.listdir("/"))
    except (asyncssh.Error, OSError) as error:
        return f"{type(error).__name__}: {error}"
    return "ok" if listed == [".", "..", "inbox", "outbox", "reports"] else f"listed {listed}"


async def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)


async def _spray_while_logging_in(port: int, target: str, honest: Account, sprayers: int,
                                  logins: int) -> tuple[Spray, list[str]]:
    spray, stop = Spray(), asyncio.Event()
    tasks = [asyncio.create_task(_sprayer(n, port, target, spray, stop))
             for n in range(sprayers)]
    try:
        await _until(lambda: spray.outcomes["busy"] > 0, "an overload")  # before logging in
        results = [await _honest_login(port, honest) for _ in range(logins)]
        # The ban check below needs an address with both an overload and two verdicts.
        await _until(lambda: bool(spray.busy_addresses & spray.finished_addresses),
                     "an address with an overload to finish its turn")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return spray, results


def test_a_password_spray_never_refuses_another_institutions_login(intake: GatewayProcess
                                                                   ) -> None:
    # One argon2 thread and four waiting checks: 16 sprayers overload them all the time.
    # Hashes cost ~30 ms to check here (argon2's defaults, ~0.3 s, would only slow the test).
    intake.password_hasher = PasswordHasher(time_cost=2, memory_cost=16384, parallelism=1)
    intake.sftp_options = ["password_check_threads = 1", "password_checks_waiting = 4",
                           "ban_failures = 3", "ban_window_seconds = 600",
                           "ban_seconds = 600"]
    alpha, beta = intake.accounts
    intake.start()
    spray, logins = asyncio.run(_spray_while_logging_in(
        intake.sftp_port, alpha.name, beta, sprayers=16, logins=8))
    print(f"spray outcomes {dict(spray.outcomes)}; beta logins {Counter(logins)}")

    assert logins == ["ok"] * 8
    assert set(spray.outcomes) <= {"bad", "busy"}, spray.outcomes  # none banned or dropped
    # Overloads were refused as such ("try again"), never as a bad password ...
    assert len(_events(intake, "login refused", reason="bad password")) == spray.outcomes["bad"]
    busy = _events(intake, "password check refused: too many checks waiting")
    assert len(busy) == spray.outcomes["busy"] > 0
    assert all(record["peer"] != HONEST for record in busy)
    # ... and never counted toward a ban: these addresses had two bad passwords and at least
    # one overload each, one failure short of a ban only if overloads do not count.
    assert spray.busy_addresses & spray.finished_addresses
    assert _events(intake, "address banned") == []


# -- finding 3: bans reach connections opened before them; a cap on unauthenticated ones --

def test_a_ban_closes_the_connections_the_address_opened_before_it(intake: GatewayProcess
                                                                   ) -> None:
    intake.sftp_options = ["ban_failures = 3", "ban_window_seconds = 60", "ban_seconds = 60"]
    alpha = intake.accounts[0]
    intake.start()
    port, attacker = intake.sftp_port, "127.0.0.2"
    opened = [paramiko_transport(port, attacker) for _ in range(3)]
    try:
        for guess in range(3):
            failing = paramiko_transport(port, attacker)
            with pytest.raises((paramiko.SSHException, EOFError)):
                failing.auth_password(alpha.name, f"guess-{guess}")
            failing.close()
        wait_for(lambda: not any(t.is_active() for t in opened), 10,
                 "the connections opened before the ban to be closed")
        for transport in opened:
            with pytest.raises((paramiko.SSHException, EOFError, OSError)):
                transport.auth_password(alpha.name, alpha.password)
    finally:
        for transport in opened:
            transport.close()
    # The connections close before the ban's log line is written: wait for it.
    [ban] = wait_for(lambda: _events(intake, "address banned"), 10, "the ban's log line")
    assert ban["peer"] == attacker
    assert ban["connections_closed"] >= 3
    assert _events(intake, "login accepted") == []
    client, _ = paramiko_session(port, alpha)  # the honest address is not banned
    client.close()


def test_an_address_may_hold_only_a_few_connections_not_logged_in(intake: GatewayProcess
                                                                  ) -> None:
    intake.sftp_options = ["max_unauthenticated_per_address = 3"]
    alpha = intake.accounts[0]
    intake.start()
    port, crowded = intake.sftp_port, "127.0.0.3"
    opened = [paramiko_transport(port, crowded) for _ in range(3)]
    try:
        assert _refused(port, crowded)
        assert not _refused(port, "127.0.0.4")  # other addresses are not affected
        opened[0].auth_password(alpha.name, alpha.password)  # logged in: its place is free
        opened.append(paramiko_transport(port, crowded))  # and taken again
        assert _refused(port, crowded)
    finally:
        for transport in opened:
            transport.close()
    refusals = _events(intake,
                       "connection refused: too many connections logging in from the address")
    assert refusals
    assert {record["peer"] for record in refusals} == {crowded}


# -- finding 4: idle connections are closed, SFTP or not ----------------------------------

def test_logged_in_connections_without_sftp_are_closed_when_idle(intake: GatewayProcess
                                                                 ) -> None:
    intake.intake_options = {"alpha": ["idle_timeout_seconds = 2", "max_sessions = 2"]}
    alpha = intake.accounts[0]
    intake.start()
    port = intake.sftp_port
    idle = [paramiko_transport(port, HONEST) for _ in range(2)]
    try:
        for transport in idle:
            transport.auth_password(alpha.name, alpha.password)  # and never open a channel
        wait_for(lambda: not any(t.is_active() for t in idle), 10,
                 "the idle logged-in connections to be closed")
    finally:
        for transport in idle:
            transport.close()
    assert len(_events(intake, "idle session closed")) == 2
    # Their slots are free, and a connection making requests is not idle.
    client, sftp = paramiko_session(port, alpha)
    try:
        for _ in range(30):  # 3 s of requests, past the 2 s timeout (1.9 s of slack)
            assert sorted(sftp.listdir("/")) == ["inbox", "outbox", "reports"]
            time.sleep(0.1)
    finally:
        client.close()
    assert len(_events(intake, "idle session closed")) == 2
