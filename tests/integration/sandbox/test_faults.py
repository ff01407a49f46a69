"""Fault injection over real HTTP: every kind, its scope, determinism, control and CLI."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from gateway.sandbox import (
    CanvasSandbox,
    ErrorFault,
    Faults,
    LatencyFault,
    MaintenanceFault,
    OutcomeFault,
    RequestFault,
    StuckFault,
)
from tests.integration.sandbox.calls import AUTH, TERMINAL, TOKEN, USERS, wait_until

POST, CREATE_PATH = ("POST",), r"/sis_imports$"  # only POST sis_imports




def post(api: str, **kwargs: Any) -> requests.Response:
    return requests.post(api, headers=AUTH, files={"attachment": ("u.csv", USERS)}, **kwargs)


def raw_exchange(base_url: str, request: bytes) -> bytes:
    """Send raw bytes and read until the server closes; a reset raises ConnectionResetError."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


# --- connection resets ------------------------------------------------------------------


def test_reset_before_handling_creates_nothing(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.faults = Faults(reset_before=RequestFault(count=1, methods=POST, path=CREATE_PATH))
    with pytest.raises(requests.ConnectionError):
        post(api)
    assert sandbox.imports("1") == []
    assert sandbox.faults_fired() == {"reset_before": 1}
    assert post(api).status_code == 200  # the count is used up


def test_reset_after_handling_creates_the_import_the_client_never_hears_of(
    sandbox: CanvasSandbox, api: str
) -> None:
    sandbox.faults = Faults(reset_after=RequestFault(count=1, methods=POST, path=CREATE_PATH))
    started = time.time()
    with pytest.raises(requests.ConnectionError):
        post(api)
    [created] = sandbox.imports("1")
    assert wait_until(api, created["id"], TERMINAL)["workflow_state"] == "imported"
    # The ambiguous-POST recovery: list recent imports and find it.
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 1))
    found = requests.get(api, headers=AUTH, params={"created_since": since}).json()
    assert [i["id"] for i in found["sis_imports"]] == [created["id"]]


@pytest.mark.parametrize("kind", ["reset_before", "reset_after"])
def test_a_reset_is_a_tcp_rst_without_any_http_bytes(sandbox: CanvasSandbox, kind: str) -> None:
    once = RequestFault(count=1)
    plan = Faults(reset_before=once) if kind == "reset_before" else Faults(reset_after=once)
    sandbox.faults = plan
    request = (
        b"GET /api/v1/accounts/1/sis_imports HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n"
    )
    with pytest.raises(ConnectionResetError):
        raw_exchange(sandbox.base_url, request)


# --- error answers, maintenance, latency --------------------------------------------------


def test_injected_500_is_canvas_json(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.faults = Faults(errors=ErrorFault(count=1, statuses=(500,)))
    response = requests.get(api, headers=AUTH)
    assert response.status_code == 500
    body = response.json()
    assert body["errors"] == [{"message": "An error occurred."}]
    assert isinstance(body["error_report_id"], int)
    assert "X-Rate-Limit-Remaining" in response.headers  # Canvas's app answered it


@pytest.mark.parametrize(
    ("status", "title"),
    [(502, "Bad Gateway"), (503, "Service Temporarily Unavailable"), (504, "Gateway Time-out")],
)
def test_gateway_errors_are_html_and_create_nothing(
    sandbox: CanvasSandbox, api: str, status: int, title: str
) -> None:
    sandbox.faults = Faults(errors=ErrorFault(count=1, statuses=(status,)))
    response = post(api)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/html"
    assert f"<title>{status} {title}</title>" in response.text
    assert sandbox.imports("1") == []


def test_gateway_error_after_handling_still_creates_the_import(
    sandbox: CanvasSandbox, api: str
) -> None:
    sandbox.faults = Faults(
        errors=ErrorFault(count=1, statuses=(504,), after=True, methods=POST, path=CREATE_PATH)
    )
    assert post(api).status_code == 504
    assert len(sandbox.imports("1")) == 1
    sandbox.faults = Faults(errors=ErrorFault(count=1, statuses=(500,), after=True))
    assert post(api).status_code == 500
    assert len(sandbox.imports("1")) == 2


@pytest.mark.parametrize("status", [200, 503])
def test_maintenance_page(sandbox: CanvasSandbox, api: str, status: int) -> None:
    sandbox.faults = Faults(maintenance=MaintenanceFault(count=1, status=status))
    response = post(api)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Canvas is down for maintenance" in response.text
    assert sandbox.imports("1") == []


def test_latency_delays_the_answer_but_not_the_work(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.faults = Faults(latency=LatencyFault(count=2, seconds=0.4))
    started = time.monotonic()
    assert requests.get(api, headers=AUTH).status_code == 200
    assert time.monotonic() - started >= 0.4
    with pytest.raises(requests.Timeout):
        post(api, timeout=0.1)  # the client gives up; the sandbox still handles it
    deadline = time.monotonic() + 3
    while not sandbox.imports("1") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sandbox.imports("1")) == 1


def test_scope_limits_faults_to_methods_and_paths(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.faults = Faults(
        errors=ErrorFault(rate=1.0, statuses=(503,), methods=POST, path=CREATE_PATH)
    )
    assert requests.get(api, headers=AUTH).status_code == 200
    assert post(api).status_code == 503
    assert post(f"{api}.json").status_code == 200  # the path regex does not match
    assert requests.get(f"{sandbox.base_url}/sandbox/settings").status_code == 200


# --- import faults ------------------------------------------------------------------------


def test_stuck_import_blocks_the_queue_until_aborted(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.faults = Faults(stuck=StuckFault(count=1))
    stuck = post(api).json()
    queued = post(api).json()
    time.sleep(0.5)  # five times the processing time
    assert sandbox.imports("1")[0]["workflow_state"] == "importing"
    assert sandbox.imports("1")[1]["workflow_state"] == "created"
    requests.put(f"{api}/{stuck['id']}/abort", headers=AUTH)
    assert wait_until(api, queued["id"], TERMINAL)["workflow_state"] == "imported"


def test_stuck_for_some_seconds_then_imported(sandbox: CanvasSandbox, api: str) -> None:
    sandbox.faults = Faults(stuck=StuckFault(count=1, seconds=0.4))
    created = post(api).json()
    done = wait_until(api, created["id"], TERMINAL)
    assert done["workflow_state"] == "imported"
    assert sandbox.faults_fired() == {"stuck": 1}


def test_forced_failed_with_messages(api: str, sandbox: CanvasSandbox) -> None:
    sandbox.faults = Faults(outcome=OutcomeFault(count=1))
    done = wait_until(api, post(api).json()["id"], TERMINAL)
    assert done["workflow_state"] == "failed_with_messages"
    [[file, message]] = done["processing_errors"]
    assert file is None
    assert re.fullmatch(
        r"Error while importing CSV\. Please contact support\. \(Error report \d+\)", message
    )
    assert "errors_attachment" in done
    assert sandbox.sis_objects("1")["terms"] == []
    normal = wait_until(api, post(api).json()["id"], TERMINAL)
    assert normal["workflow_state"] == "imported"


def test_forced_failed_and_aborted(api: str, sandbox: CanvasSandbox) -> None:
    sandbox.faults = Faults(outcome=OutcomeFault(count=1, state="failed"))
    failed = wait_until(api, post(api).json()["id"], TERMINAL)
    assert (failed["workflow_state"], failed["ended_at"]) == ("failed", None)
    assert "error_message" in failed["data"]
    assert "errors_attachment" not in failed
    sandbox.faults = Faults(outcome=OutcomeFault(rate=1.0, state="aborted"))
    aborted = wait_until(api, post(api).json()["id"], TERMINAL)
    assert aborted["workflow_state"] == "aborted"


# --- determinism, control endpoint, CLI ---------------------------------------------------


def statuses(api: str, times: int) -> list[int]:
    return [requests.get(api, headers=AUTH).status_code for _ in range(times)]


def test_seeded_faults_repeat_exactly(sandbox: CanvasSandbox, api: str) -> None:
    plan = Faults(seed=42, errors=ErrorFault(rate=0.5), maintenance=MaintenanceFault(rate=0.2))
    sandbox.faults = plan
    first = statuses(api, 30)
    sandbox.faults = plan  # setting a plan restarts its streams
    assert statuses(api, 30) == first
    assert len(set(first)) > 2  # a mix of successes, errors and maintenance pages
    sandbox.faults = Faults(seed=43, errors=plan.errors, maintenance=plan.maintenance)
    assert statuses(api, 30) != first
    with CanvasSandbox(accounts={"1": TOKEN}, processing_seconds=0.1, faults=plan) as other:
        assert statuses(f"{other.base_url}/api/v1/accounts/1/sis_imports", 30) == first


def test_faults_control_endpoint(sandbox: CanvasSandbox, api: str) -> None:
    url = f"{sandbox.base_url}/sandbox/faults"
    plan = {"seed": 7, "errors": {"count": 1, "statuses": [502], "methods": ["get"]}}
    response = requests.put(url, json=plan)
    assert response.status_code == 200
    body = response.json()
    assert body["faults"]["seed"] == 7
    assert body["faults"]["errors"]["statuses"] == [502]
    assert body["faults"]["errors"]["methods"] == ["GET"]
    assert body["faults"]["reset_after"] is None
    assert sandbox.faults.errors == ErrorFault(count=1, statuses=(502,), methods=("GET",))
    assert requests.get(api, headers=AUTH).status_code == 502
    assert requests.get(url).json()["fired"] == {"errors": 1}
    bad_plans: list[object] = [
        {"errors": {"rate": 2}},
        {"boom": {}},
        {"errors": {"statuses": [418]}},
        [],
    ]
    for bad in bad_plans:
        assert requests.put(url, json=bad).status_code == 400, bad
    assert requests.put(url, data=b"{").status_code == 400
    assert requests.put(url, json={}).json() == {
        "faults": dict.fromkeys(body["faults"]) | {"seed": None},
        "fired": {},
    }


def test_cli_flags_configure_faults() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.sandbox",
            "--port",
            "0",
            "--token",
            "t",
            "--fail-rate",
            "1",
            "--fail-status",
            "503",
            "--fault-method",
            "POST",
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.search(r"(http://\S+)", process.stdout.readline())
        assert match
        url = f"{match[1]}/api/v1/accounts/1/sis_imports"
        auth = {"Authorization": "Bearer t"}
        assert requests.get(url, headers=auth).status_code == 200
        refused = requests.post(url, headers=auth, files={"attachment": ("u.csv", USERS)})
        assert refused.status_code == 503
    finally:
        process.terminate()
        process.wait(timeout=10)
