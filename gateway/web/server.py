"""The HTTP port: /healthz, /readyz, /metrics and the read-only status page.

A stdlib ``ThreadingHTTPServer`` in its own thread, so a slow scrape or page never touches
the daemon's event loop (and a stuck event loop still gets reported by /healthz).  Only GET
and HEAD exist; nothing here changes state.  Every answer is ``Cache-Control: no-store``;
HTML answers forbid scripts and framing by Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry

from gateway.settings import ConfigError, Settings
from gateway.state.spool import Spool
from gateway.state.store import Store
from gateway.web.health import Health, Probe
from gateway.web.metrics import CONTENT_TYPE, exposition, metrics_registry
from gateway.web.page import StatusPages

log = logging.getLogger(__name__)

_BATCH_PAGE = re.compile(r"^/batches/(\d{1,12})$")
_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


@dataclass(frozen=True)
class Answer:
    """What one request gets back."""

    status: int
    content_type: str
    body: bytes


class WebServer:
    """Serves the endpoints on ``host:port`` from a background thread until :meth:`stop`."""

    def __init__(self, *, host: str, port: int, health: Health, pages: StatusPages,
                 registry: CollectorRegistry) -> None:
        self.health = health
        self._pages = pages
        self._registry = registry
        try:
            self._server = ThreadingHTTPServer((host, port), _Handler)
        except OSError as error:
            raise ConfigError(f"http: cannot listen on {host}:{port}: {error.strerror}") \
                from None
        self._server.daemon_threads = True
        self._server.web = self  # type: ignore[attr-defined]  # read back by _Handler
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


def start_web(settings: Settings, spool: Spool, store: Store,
              institutions: Callable[[], Sequence[str]]) -> WebServer | None:
    """Start the HTTP port if ``[http] enabled``; call on the daemon's event loop.
    ``institutions`` names the configured institutions at each request (they can be
    reloaded).  Raises ConfigError when the port cannot be bound."""
    if not settings.http.enabled:
        return None
    health = Health(store, settings.data_dir, settings.storage.min_free_bytes)
    server = WebServer(
        host=settings.http.host, port=settings.http.port, health=health,
        pages=StatusPages(store=store, spool=spool, institutions=institutions, health=health),
        registry=metrics_registry(store, institutions, settings.data_dir,
                                  settings.storage.min_free_bytes))
    server.start()
    log.info("HTTP listening", extra={"host": settings.http.host, "port": server.port})
    return server


def _probes(probes: list[Probe]) -> Answer:
    lines = "".join(f"{'ok' if p.ok else 'FAIL':<5} {p.name}: {p.detail}\n" for p in probes)
    return Answer(200 if all(p.ok for p in probes) else 503, _TEXT, lines.encode())


class _Handler(BaseHTTPRequestHandler):
    """Routes GET and HEAD to WebServer.answer; other methods get 501 from the base class."""

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
        web: WebServer = self.server.web  # type: ignore[attr-defined]
        try:
            answer = web.answer(self.path)
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
