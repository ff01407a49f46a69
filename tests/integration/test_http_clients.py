"""The real gateway's HTTP port against clients that stall or vanish: each is dropped in
time and leaves one JSON log line; the gateway's output stays JSON lines only."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import time

from tests.integration.gateway_process import GatewayProcess, wait_for

TIMEOUT = 1.0


def _curl(process: GatewayProcess, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "--silent", "--show-error", "--max-time", "10",
                           f"http://127.0.0.1:{process.http_port}{path}"],
                          capture_output=True, text=True, timeout=30, check=False)


def test_stalled_and_vanished_clients_are_dropped_and_logged_as_json(
        intake: GatewayProcess) -> None:
    intake.http_options = [f"request_timeout_seconds = {TIMEOUT}"]
    intake.start()
    with socket.create_connection(("127.0.0.1", intake.http_port), timeout=10) as stalled:
        stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")  # never finished
        start = time.monotonic()
        assert stalled.recv(1) == b""  # closed by the gateway (a socket timeout fails)
        assert TIMEOUT * 0.8 < time.monotonic() - start < TIMEOUT + 4
    vanished = socket.create_connection(("127.0.0.1", intake.http_port), timeout=10)
    vanished.sendall(b"GET /metrics HTTP/1.1\r\n")
    vanished.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    vanished.close()  # a reset, as from a killed client
    wait_for(lambda: "HTTP client went away" in intake.logs(), 10, "the reset logged")
    wait_for(lambda: "Request timed out" in intake.logs(), 10, "the timeout logged")
    served = _curl(intake, "/healthz")
    assert served.returncode == 0, served.stderr
    assert intake.stop() == 0
    # The log holds stdout too, where the daemon prints one line when it is ready.
    for line in intake.logs().splitlines():
        if not line.startswith("gateway ready: "):
            json.loads(line)  # no traceback or other text outside the JSON log
