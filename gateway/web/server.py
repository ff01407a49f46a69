"""The HTTP port: /healthz, /readyz, /metrics and the read-only status page.

A stdlib ``ThreadingHTTPServer`` in its own thread, so a slow scrape or page never touches
the daemon's event loop (and a stuck event loop still gets reported by /healthz).  Only GET
and HEAD exist; nothing here changes state.  Every answer is ``Cache-Control: no-store``;
HTML answers forbid scripts and framing by Content-Security-Policy.

Careless and hostile clients cost a bounded amount: a request must arrive whole within
``request_timeout`` seconds (trickling bytes does not extend it) and its answer be taken
within as long again, or the connection is closed; at most ``max_connections`` are served
at once and further ones are closed on arrival.  Whatever goes wrong on a connection (a
client gone mid-answer, a timeout, a malformed request) is a JSON log line, never a
traceback printed to stderr by the standard library.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry

from gateway.settings import ConfigError, Settings
from gateway.state.protocols import StateStore
from gateway.state.spool import Spool
from gateway.web.health import Health, Probe
from gateway.web.metrics import CONTENT_TYPE, exposition, metrics_registry
from gateway.web.page import StatusPages

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger(__name__)

_BATCH_PAGE = re.compile(r"^/batches/(\d{1,12})$")
_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
REFUSALS_LOGGED_EVERY = 10.0
"""Seconds between log lines about connections refused at the limit (a flood of them must
not flood the log too)."""


@dataclass(frozen=True)
class Answer:
    """What one request gets back."""

    status: int
    content_type: str
    body: bytes


class WebServer:
    """Serves the endpoints on ``host:port`` from a background thread until :meth:`stop`."""

    def __init__(self, *, host: str, port: int, health: Health, pages: StatusPages,
                 registry: CollectorRegistry, request_timeout: float,
                 max_connections: int) -> None:
        self.health = health
        self._pages = pages
        self._registry = registry
        try:
            self._server = _Server((host, port), self, request_timeout=request_timeout,
                                   max_connections=max_connections)
        except OSError as error:
            raise ConfigError(f"http: cannot listen on {host}:{port}: {error.strerror}") \
                from None
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="http", daemon=True)
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in the background; call on the daemon's event loop (it starts the
        heartbeat task that /healthz watches)."""
        self._heartbeat = asyncio.get_running_loop().create_task(
            self.health.heartbeat(), name="heartbeat")
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; requests under way are abandoned."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)

    def answer(self, path: str) -> Answer:
        """The answer for a GET of ``path`` (query strings are ignored)."""
        route = urlsplit(path).path
        if route == "/healthz":
            return _probes([self.health.alive()])
        if route == "/readyz":
            return _probes(self.health.ready())
        if route == "/metrics":
            return Answer(200, CONTENT_TYPE, exposition(self._registry))
        if route == "/":
            return Answer(200, _HTML, self._pages.overview().encode())
        match = _BATCH_PAGE.match(route)
        page = self._pages.batch(int(match.group(1))) if match else None
        if page is not None:
            return Answer(200, _HTML, page.encode())
        return Answer(404, _TEXT, b"not found: try /, /healthz, /readyz or /metrics\n")


def start_web(settings: Settings, spool: Spool, store: StateStore,
              institutions: Callable[[], Sequence[str]],
              exports: Callable[[], Mapping[str, tuple[str, ...]]] = dict) -> WebServer | None:
    """Start the HTTP port if ``[http] enabled``; call on the daemon's event loop.
    ``institutions`` names the configured institutions at each request (they can be
    reloaded), ``exports`` their configured exports.  Raises ConfigError when the port
    cannot be bound."""
    if not settings.http.enabled:
        return None
    health = Health(store, settings.data_dir, settings.storage.min_free_bytes)
    server = WebServer(
        host=settings.http.host, port=settings.http.port, health=health,
        pages=StatusPages(store=store, spool=spool, institutions=institutions, health=health),
        registry=metrics_registry(store, institutions, settings.data_dir,
                                  settings.storage.min_free_bytes, exports),
        request_timeout=settings.http.request_timeout_seconds,
        max_connections=settings.http.max_connections)
    server.start()
    log.info("HTTP listening", extra={"host": settings.http.host, "port": server.port})
    return server


def _probes(probes: list[Probe]) -> Answer:
    lines = "".join(f"{'ok' if p.ok else 'FAIL':<5} {p.name}: {p.detail}\n" for p in probes)
    return Answer(200 if all(p.ok for p in probes) else 503, _TEXT, lines.encode())


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once; failures on a
    connection are logged, not printed."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], web: WebServer, *, request_timeout: float,
                 max_connections: int) -> None:
        self.web = web
        self.request_timeout = request_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._refused = 0
        self._refusal_logged = -REFUSALS_LOGGED_EVERY
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve on a new thread if a slot is free; else close the connection at once (on
        the accepting thread, which must never wait for a client)."""
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            self._note_refusal(client_address)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # no thread started to give it back
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection, then give its slot back."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log what ended a connection (the base class prints a traceback to stderr).  A
        client that went away or stalled is its own business: one INFO line."""
        error = sys.exc_info()[1]
        peer = _peer(client_address)
        if isinstance(error, ConnectionError | TimeoutError):
            log.info("HTTP client went away: %s", error.__class__.__name__,
                     extra={"peer": peer, "error": str(error)})
        else:
            log.exception("HTTP connection failed", extra={"peer": peer})

    def _note_refusal(self, client_address: Any) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged >= REFUSALS_LOGGED_EVERY:
            log.warning("HTTP connection refused: too many open connections",
                        extra={"peer": _peer(client_address), "refused": self._refused})
            self._refused, self._refusal_logged = 0, now


def _peer(client_address: Any) -> str:
    return str(client_address[0]) if isinstance(client_address, tuple) else "?"


class _DeadlineReader(io.RawIOBase):
    """A socket's incoming bytes until a deadline: each receive waits only for the time
    left, so a client trickling a byte at a time cannot hold its thread past it."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        """Always: this is a reader."""
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Receive into ``buffer``; raise TimeoutError once the deadline has passed."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    """Routes GET and HEAD to WebServer.answer; other methods get 501 from the base class."""

    server: _Server

    def setup(self) -> None:
        """Read the request through a deadline of ``request_timeout`` from the connection's
        start (http.server would wait for it forever).  Speaking HTTP/1.0, the handler
        serves one request per connection, so this is the request's deadline."""
        super().setup()
        self.rfile.close()  # the base class's reader: replaced, never used
        self.rfile = io.BufferedReader(_DeadlineReader(
            self.connection, time.monotonic() + self.server.request_timeout))

    def parse_request(self) -> bool:
        """Parse the request line and headers (all a GET or HEAD has), then give the answer
        a full ``request_timeout`` to be taken by the client."""
        parsed = super().parse_request()
        self.connection.settimeout(self.server.request_timeout)
        return parsed

    def version_string(self) -> str:
        """The Server header: the product only, no Python version to fingerprint."""
        return "sis-gateway"

    def do_GET(self) -> None:
        """Answer with headers and body."""
        self._reply(with_body=True)

    def do_HEAD(self) -> None:
        """Answer with headers only."""
        self._reply(with_body=False)

    def _reply(self, *, with_body: bool) -> None:
        try:
            answer = self.server.web.answer(self.path)
        except Exception:
            log.exception("HTTP request failed", extra={"path": self.path[:200]})
            answer = Answer(500, _TEXT, b"internal error; see the gateway log\n")
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if answer.content_type == _HTML:
            self.send_header("Content-Security-Policy", _PAGE_POLICY)
        self.end_headers()
        if with_body:
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:
        """Requests go to the debug log: scrapes and health checks would drown INFO."""
        log.debug("HTTP %s", format % args)

    def log_error(self, format: str, *args: object) -> None:
        """A timed-out or malformed request (the base class's words, e.g. "Request timed
        out", "Bad request version"): the client's doing, so INFO with its address."""
        log.info("HTTP request refused: %s", format % args,
                 extra={"peer": self.address_string()})
