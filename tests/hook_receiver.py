"""A webhook receiver on loopback for tests: records every POST, answers with a chosen status."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """What the receiver got, and what it answers next."""

    posts: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    """(path, headers, parsed JSON body) of every POST, in order."""
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[tuple[str, dict[str, str], Any]]:
        """The POSTs answered with a 2xx (recorded with the status they got)."""
        with self.lock:
            return [post for post in self.posts if post[1].get("x-answered") == "2xx"]


@contextmanager
def hook_receiver() -> Iterator[tuple[Received, int]]:
    """Run a receiver on 127.0.0.1; yield what it received and its port."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with received.lock:
                status = received.status
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers["x-answered"] = "2xx" if 200 <= status < 300 else str(status)
                received.posts.append((self.path, headers, json.loads(body or b"null")))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on what was received."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
