"""The HTTP port over real loopback HTTP: health, readiness, metrics, pages, and nothing else."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message

import pytest

from gateway.state.local_custody import LocalCustody
from gateway.state.spool import Spool
from gateway.state.states import BatchState
from gateway.state.store import Store
from gateway.web.health import STALL_SECONDS, Health
from gateway.web.metrics import metrics_registry
from gateway.web.page import StatusPages
from gateway.web.server import WebServer
from tests.conftest import INSTITUTIONS
from tests.unit.history import Clock, batch_of, imported, received


@dataclass
class Reply:
    status: int
    headers: Message
    body: str


PagesFactory = Callable[..., StatusPages]


def _serve(store: Store, spool: Spool, floor: int = 0, *, request_timeout: float = 10.0,
           max_connections: int = 64, pages: PagesFactory = StatusPages
           ) -> Iterator[WebServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    health = Health(store, spool.root, floor)
    server = WebServer(
        host="127.0.0.1", port=0, health=health,
        pages=pages(store=store, spool=spool, custody=LocalCustody(spool),
                    institutions=lambda: INSTITUTIONS,
                    health=health),
        registry=metrics_registry(store, lambda: INSTITUTIONS, spool.root, floor),
        request_timeout=request_timeout, max_connections=max_connections)

    async def start() -> None:
        server.start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    yield server

    async def stop() -> None:
        server.stop()
        await asyncio.sleep(0)  # let the heartbeat task finish cancelling

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def web(store: Store, spool: Spool) -> Iterator[WebServer]:
    yield from _serve(store, spool)


def _get(web: WebServer, path: str, method: str = "GET") -> Reply:
    request = urllib.request.Request(f"http://127.0.0.1:{web.port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return Reply(answer.status, answer.headers, answer.read().decode())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read().decode())


def test_healthz_is_alive_and_readyz_waits_for_sftp(web: WebServer) -> None:
    assert _get(web, "/healthz").status == 200
    before = _get(web, "/readyz")
    assert before.status == 503
    assert "FAIL  sftp: not listening" in before.body
    assert "ok    store: writable" in before.body
    web.health.sftp_port = 2222
    after = _get(web, "/readyz")
    assert after.status == 200, after.body
    assert "ok    disk space:" in after.body


def test_readyz_fails_below_the_disk_floor(store: Store, spool: Spool) -> None:
    for web in _serve(store, spool, floor=1 << 62):
        web.health.sftp_port = 2222
        reply = _get(web, "/readyz")
        assert reply.status == 503
        assert "FAIL  disk space:" in reply.body


def test_a_stalled_event_loop_is_not_alive(store: Store, spool: Spool) -> None:
    clock = Clock()
    health = Health(store, spool.root, 0, clock=clock)
    assert health.alive().ok
    clock.now += STALL_SECONDS + 1
    assert not health.alive().ok
    health.beat()
    assert health.alive().ok


def test_metrics_are_prometheus_text(web: WebServer) -> None:
    reply = _get(web, "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=")
    assert 'gateway_queue_depth{institution="beta"} 0.0' in reply.body


def test_overview_shows_queues_holds_batches_and_quarantine_escaped(
        web: WebServer, store: Store, spool: Spool) -> None:
    done = imported(store, spool, Clock(), "alpha", waited=1, processing=1, import_id=4242)
    hostile = received(store, spool, "alpha", "<script>alert(1)</script>.csv")
    held = batch_of(store, [hostile], (BatchState.HELD,), reason="Canvas said 401")
    with store.transaction() as txn:
        txn.hold_institution("beta", "vendor asked for a pause")
    (spool.quarantine / "upload-00000099").write_bytes(b"x")
    (spool.quarantine / "upload-00000099.reason.txt").write_text("never recorded\n")

    reply = _get(web, "/")
    assert reply.status == 200
    assert "script-src" not in reply.headers["Content-Security-Policy"]
    page = reply.body
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in page
    for text in ("alpha", "beta", "vendor asked for a pause", "Canvas said 401",
                 f"/batches/{done}", f"/batches/{held}", "4242", "upload-00000099",
                 "never recorded"):
        assert text in page


def test_batch_page_has_history_and_report(web: WebServer, store: Store, spool: Spool) -> None:
    batch = imported(store, spool, Clock(), "alpha", waited=1, processing=1)
    (spool.reports("alpha") / f"batch-{batch:06d}.txt").write_text("Imported 1 user & more\n")
    reply = _get(web, f"/batches/{batch}")
    assert reply.status == 200
    assert "Imported 1 user &amp; more" in reply.body
    assert "importing" in reply.body  # the history table
    assert _get(web, "/batches/999").status == 404
    assert _get(web, "/nowhere").status == 404


def test_only_get_and_head_exist(web: WebServer) -> None:
    assert _get(web, "/healthz", method="HEAD").body == ""
    assert _get(web, "/healthz", method="POST").status == 501
    assert _get(web, "/", method="DELETE").status == 501


# -- hostile and careless clients --------------------------------------------------------


def _connect(web: WebServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", web.port), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Read until the server closes ``sock``; return how long that took (fail after
    ``seconds``)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {seconds} s")
    return time.monotonic() - start


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a killed client or a dropped network does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _logged(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in record.getMessage() for record in caplog.records):
            return
        time.sleep(0.02)
    pytest.fail(f"no log line with {text!r} in {[r.getMessage() for r in caplog.records]}")


def test_a_half_sent_request_is_dropped_after_the_timeout(
        store: Store, spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.web.server")
    for web in _serve(store, spool, request_timeout=0.5):
        with _connect(web) as stalled:
            stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")  # no blank line
            assert 0.4 < _closed_within(stalled, 5.0) < 3.0
        _logged(caplog, "timed out")
        assert _get(web, "/healthz").status == 200


def test_a_trickled_request_is_dropped_at_the_deadline_too(store: Store, spool: Spool) -> None:
    """The timeout covers the whole request, not each byte: trickling does not extend it."""
    for web in _serve(store, spool, request_timeout=0.6):
        with _connect(web) as slow:
            start = time.monotonic()
            try:
                for byte in b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n":
                    slow.sendall(bytes([byte]))
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass  # dropped while still trickling: what the test wants
            assert time.monotonic() - start < 3.0
            assert _closed_within(slow, 3.0) < 3.0


class _SlowPages(StatusPages):
    """An overview that is large and is only answered once the test says so."""

    entered = threading.Event()
    proceed = threading.Event()

    def overview(self) -> str:
        self.entered.set()
        self.proceed.wait(10)
        return "x" * (16 << 20)  # more than loopback buffers hold: the write must fail


def test_a_client_gone_mid_response_is_a_json_log_line_not_a_traceback(
        store: Store, spool: Spool, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO, logger="gateway.web.server")
    _SlowPages.entered.clear()
    _SlowPages.proceed.clear()
    for web in _serve(store, spool, pages=_SlowPages):
        client = _connect(web)
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert _SlowPages.entered.wait(10)
        _reset(client)
        _SlowPages.proceed.set()
        _logged(caplog, "HTTP client went away")
        assert _get(web, "/healthz").status == 200
    errors = capsys.readouterr().err
    assert "Traceback" not in errors
    assert "Exception occurred" not in errors


def test_a_client_reset_mid_request_is_a_json_log_line_not_a_traceback(
        web: WebServer, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO, logger="gateway.web.server")
    client = _connect(web)
    client.sendall(b"GET /healthz HTTP/1.1\r\n")
    _reset(client)
    _logged(caplog, "HTTP client went away")
    assert "Traceback" not in capsys.readouterr().err


def test_connections_beyond_the_limit_are_closed_at_once(
        store: Store, spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.web.server")
    for web in _serve(store, spool, request_timeout=30.0, max_connections=2):
        held = [_connect(web), _connect(web)]
        for sock in held:  # both are being served (each sent part of a request)
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        with _connect(web) as extra:
            assert _closed_within(extra, 5.0) < 5.0  # long before the 30 s timeout
        _logged(caplog, "HTTP connection refused")
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 5
        while True:  # the held slots come back once their connections are gone
            try:
                assert _get(web, "/healthz").status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
