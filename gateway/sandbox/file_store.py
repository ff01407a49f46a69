"""A second loopback HTTP server standing for Canvas's file store (S3, inst-fs).

Canvas answers a report file's download with a redirect to its file store, a different
host, whose URL carries its own signature; the Canvas token must never be sent there.  This
server serves each offered file under an unguessable path, ``/store/<key>/<name>``, and
records whether each request carried an ``Authorization`` header (or an ``access_token``), so
tests can prove no token ever arrived.  Request faults of the sandbox's plan (resets, 5xx
pages, latency) apply here too: match them with ``path="^/store/"``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from gateway.sandbox.handler import SandboxHTTPServer
from gateway.sandbox.injector import FaultInjector, error_response, maintenance_response
from gateway.sandbox.wire import CONNECTION_RESET, Request, Response, not_found

_JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class StoreRequest:
    """One request the file store received: its path and whether it carried a credential."""

    path: str
    authorization: str | None
    access_token: str | None


class FileStore:
    """Serves offered files on its own port until stopped."""

    def __init__(self, injector: FaultInjector, host: str = "127.0.0.1") -> None:
        self._injector = injector
        self._host = host
        self._lock = threading.Lock()
        self._files: dict[str, tuple[str, str, bytes]] = {}
        self._seen: list[StoreRequest] = []
        self._httpd: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> str:
        """Bind a free port and serve; returns the base URL."""
        self._httpd = SandboxHTTPServer((self._host, 0), self)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="canvas-sandbox-files", daemon=True)
        self._thread.start()
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        return self.base_url

    def stop(self) -> None:
        """Stop serving; idempotent."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(_JOIN_SECONDS)

    def offer(self, name: str, content_type: str, content: bytes) -> str:
        """A fresh URL serving ``content`` as ``name`` (Canvas signs a new one each time)."""
        key = secrets.token_urlsafe(24)
        with self._lock:
            self._files[key] = (name, content_type, content)
        return f"{self.base_url}/store/{key}/{name}"

    def requests(self) -> list[StoreRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._seen)

    def handle(self, request: Request) -> Response:
        """Answer one request: the file, a fault, or 404."""
        with self._lock:
            self._seen.append(StoreRequest(request.path, request.header("authorization"),
                                           request.query.get("access_token")))
        plan = self._injector.for_request(request.method, request.path)
        if plan.reset_before or plan.reset_after:
            return CONNECTION_RESET
        if plan.maintenance is not None:
            return maintenance_response(plan.maintenance)
        if plan.error is not None:
            return error_response(plan.error, lambda: 0)
        parts = request.path.split("/")
        with self._lock:
            found = self._files.get(parts[2]) if len(parts) == 4 and parts[1] == "store" \
                else None
        if request.method != "GET" or found is None:
            return not_found()
        name, content_type, content = found
        return Response(200, content, content_type,
                        (("Content-Disposition", f'attachment; filename="{name}"'),))
