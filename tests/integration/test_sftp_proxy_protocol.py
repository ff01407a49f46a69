"""The SFTP listener behind a real HAProxy speaking PROXY v1 and v2 (issue 16, part 3).

Clients bind to their own loopback addresses (127.0.0.2, 127.0.0.3 ...; Linux routes all of
127.0.0.0/8 to loopback) and reach the gateway through HAProxy, which connects from
127.0.0.1: only the PROXY header tells the gateway who the client is.  Bans, the
institution's ``allowed_cidrs`` and the log lines must name the client, not the balancer.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from tests.integration.balancer import BALANCER_ADDRESS, Balancer, haproxy
from tests.integration.gateway_process import Account, GatewayProcess, wait_for
from tests.integration.sftp_clients import OPENSSH_OPTIONS, paramiko_transport

SSH_BANNER = b"SSH-2.0-RawTest_1.0\r\n"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def _events(intake: GatewayProcess, event: str, **fields: object) -> list[dict[str, Any]]:
    """The gateway's log records of ``event`` whose ``fields`` have these values."""
    records = map(json.loads, intake.logs().splitlines())
    return [record for record in records if record["event"] == event
            and all(record.get(key) == value for key, value in fields.items())]


def _logins(intake: GatewayProcess, count: int, **fields: object) -> list[dict[str, Any]]:
    """The login lines with these ``fields``, once at least ``count`` are written: the
    gateway may log a login just after the client has heard it succeed."""
    def enough() -> list[dict[str, Any]]:
        found = _events(intake, "login accepted", **fields)
        return found if len(found) >= count else []
    return wait_for(enough, 10, f"{count} login lines with {fields}")


def _proxied(intake: GatewayProcess, mode: str = "optional", timeout: float = 2) -> None:
    intake.sftp_options = [f'proxy_protocol = "{mode}"',
                           f'proxy_networks = ["{BALANCER_ADDRESS}/32"]',
                           f"proxy_header_timeout_seconds = {timeout:g}", *intake.sftp_options]


@pytest.fixture
def balancer(intake: GatewayProcess, tmp_path: Path) -> Iterator[Balancer]:
    """HAProxy in front of the (not yet started) ``intake`` gateway."""
    with haproxy(tmp_path, intake.sftp_port) as running:
        yield running


def _logs_in(port: int, source: str, account: Account) -> bool:
    """Whether ``source`` can connect and log in as ``account`` by password."""
    try:
        transport = paramiko_transport(port, source)
    except (paramiko.SSHException, EOFError, OSError):
        return False
    try:
        transport.auth_password(account.name, account.password)
        return transport.is_authenticated()
    except (paramiko.SSHException, EOFError, OSError):
        return False
    finally:
        transport.close()


def _openssh_upload(port: int, source: str, account: Account, local: Path) -> None:
    done = subprocess.run(
        ["sftp", "-b", "-", "-P", str(port), "-i", str(account.key_file), *OPENSSH_OPTIONS,
         "-o", f"BindAddress={source}", f"{account.name}@127.0.0.1"],
        input=f'put "{local}" inbox/\n', capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 0, f"sftp failed: {done.stderr}"


def _raw(port: int, source: str, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    if first:
        sock.sendall(first)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection (fails on a hang)."""
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass  # an abort: closed all the same
    finally:
        sock.close()
    return received


# -- the client's address through the balancer -----------------------------------------------

@pytest.mark.parametrize("version", [1, 2])
def test_uploads_through_the_balancer_are_the_clients(intake: GatewayProcess, balancer: Balancer,
                                                      tmp_path: Path, version: int) -> None:
    _proxied(intake)
    alpha, beta = intake.accounts
    intake.start()
    local = tmp_path / "users.csv"
    local.write_text("user_id,login_id,status\nu1,u1,active\n")
    _openssh_upload(balancer.port(version), "127.0.0.2", alpha, local)
    assert _logs_in(balancer.port(version), "127.0.0.3", beta)  # paramiko
    [alpha_login] = _logins(intake, 1, institution="alpha")
    assert (alpha_login["peer"], alpha_login["via"]) == ("127.0.0.2", BALANCER_ADDRESS)
    [received] = _events(intake, "upload received", institution="alpha")
    assert received["peer"] == "127.0.0.2"
    [beta_login] = _logins(intake, 1, institution="beta")
    assert (beta_login["peer"], beta_login["via"]) == ("127.0.0.3", BALANCER_ADDRESS)


def test_a_ban_through_the_balancer_locks_out_only_that_client(intake: GatewayProcess,
                                                               balancer: Balancer) -> None:
    intake.sftp_options = ["ban_failures = 2", "ban_window_seconds = 60", "ban_seconds = 60"]
    _proxied(intake)
    alpha = intake.accounts[0]
    intake.start()
    attacker, honest = "127.0.0.4", "127.0.0.5"
    for guess in range(2):
        failing = paramiko_transport(balancer.v1_port, attacker)
        with pytest.raises(paramiko.SSHException):
            failing.auth_password(alpha.name, f"guess-{guess}")
        failing.close()
    [ban] = wait_for(lambda: _events(intake, "address banned"), 10, "the ban")
    assert ban["peer"] == attacker
    for version in (1, 2):  # one client, whichever header carries it
        assert not _logs_in(balancer.port(version), attacker, alpha)
        assert _logs_in(balancer.port(version), honest, alpha)
    refused = _events(intake, "connection refused: address banned")
    assert {record["peer"] for record in refused} == {attacker}


def test_allowed_cidrs_hold_through_the_balancer(intake: GatewayProcess,
                                                 balancer: Balancer) -> None:
    _proxied(intake)
    intake.intake_options = {"alpha": ['allowed_cidrs = ["127.0.0.6/32"]']}
    alpha = intake.accounts[0]
    intake.start()
    for version in (1, 2):
        assert _logs_in(balancer.port(version), "127.0.0.6", alpha)
        assert not _logs_in(balancer.port(version), "127.0.0.7", alpha)
    refusals = _events(intake, "login refused", reason="address not allowed")
    assert {record["peer"] for record in refusals} == {"127.0.0.7"}
    assert len(_logins(intake, 2, peer="127.0.0.6")) == 2


# -- who may send a header ---------------------------------------------------------------

def test_a_header_from_outside_proxy_networks_is_refused(intake: GatewayProcess) -> None:
    _proxied(intake)
    alpha = intake.accounts[0]
    intake.start()
    forged = b"PROXY TCP4 192.0.2.1 127.0.0.1 40000 2222\r\n" + SSH_BANNER
    answer = _read_all(_raw(intake.sftp_port, "127.0.0.8", forged))
    assert b"192.0.2.1" not in answer
    [refused] = wait_for(lambda: _events(intake, "PROXY header refused"), 10, "the refusal")
    assert refused["peer"] == "127.0.0.8"
    assert "outside proxy_networks" in refused["reason"]
    assert _events(intake, "login refused") == []
    # A direct client (no header) outside proxy_networks is its own client.
    assert _logs_in(intake.sftp_port, "127.0.0.8", alpha)
    [login] = _logins(intake, 1)
    assert login["peer"] == "127.0.0.8"
    assert "via" not in login


def test_required_refuses_a_balancer_without_a_valid_header(intake: GatewayProcess) -> None:
    _proxied(intake, "required")
    alpha = intake.accounts[0]
    intake.start()
    port = intake.sftp_port
    assert _read_all(_raw(port, BALANCER_ADDRESS, SSH_BANNER)) == b""
    assert _read_all(_raw(port, BALANCER_ADDRESS, b"PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n")) == b""
    assert _read_all(_raw(port, BALANCER_ADDRESS, b"PROXY TCP4 ")) == b""  # the timeout
    reasons = [record["reason"] for record in _events(intake, "PROXY header refused",
                                                      peer=BALANCER_ADDRESS)]
    assert reasons[0] == "no PROXY header (proxy_protocol is 'required')"
    assert "is not an IP address" in reasons[1]
    assert reasons[2] == "incomplete PROXY header after 2 s"
    with urllib.request.urlopen(f"http://127.0.0.1:{intake.http_port}/metrics",
                                timeout=10) as answer:
        assert "gateway_sftp_proxy_headers_refused_total 3.0" in answer.read().decode()
    assert _logs_in(port, "127.0.0.9", alpha)  # direct clients are not held to it


def test_a_v2_local_health_check_is_the_balancer_itself(intake: GatewayProcess) -> None:
    _proxied(intake, "required")
    alpha = intake.accounts[0]
    intake.start()
    local = V2_SIGNATURE + b"\x20\x00" + struct.pack("!H", 0)
    sock = _raw(intake.sftp_port, BALANCER_ADDRESS, local)
    transport = paramiko.Transport(sock)  # SSH right after the header, as HAProxy's check
    try:
        transport.start_client(timeout=10)
        transport.auth_password(alpha.name, alpha.password)
        assert transport.is_authenticated()
    finally:
        transport.close()
    [login] = _logins(intake, 1)
    assert login["peer"] == BALANCER_ADDRESS
    assert "via" not in login
    assert _events(intake, "PROXY header refused") == []


def test_optional_lets_a_silent_balancer_peer_speak_ssh_after_the_timeout(
        intake: GatewayProcess) -> None:
    _proxied(intake)
    intake.start()
    sock = _raw(intake.sftp_port, BALANCER_ADDRESS, b"")
    started = time.monotonic()
    try:
        assert sock.recv(8) == b"SSH-2.0-"  # a client that waits for the server's banner
    finally:
        sock.close()
    # ... gets it once the header timeout (2 s) has passed, never before: a timer
    # never fires early.
    assert time.monotonic() - started >= 1.9


def test_the_listener_stops_with_connections_still_sending_a_header(
        intake: GatewayProcess) -> None:
    _proxied(intake, "required", timeout=60)
    intake.start()
    waiting = _raw(intake.sftp_port, BALANCER_ADDRESS, b"PROXY ")
    try:
        assert intake.stop() == 0
        assert _read_all(waiting) == b""
    finally:
        waiting.close()
