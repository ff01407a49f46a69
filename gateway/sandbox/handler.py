"""The HTTP shell: `http.server` request handling around SandboxApi (or the file store).

HTTP/1.1 with keep-alive, like Canvas behind its load balancer, so `requests.Session`
reuses connections.  The whole body is read before the API sees the request, so a refused
upload never leaves unread bytes that would corrupt the next request on the connection.

A response marked `reset` is never written: the connection is closed with SO_LINGER 0, so
the kernel sends a TCP RST (no FIN, no HTTP bytes) and the client sees "connection reset".
"""

from __future__ import annotations

import logging
import socket
import struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol, cast
from urllib.parse import urlsplit

from gateway.sandbox.wire import Params, Request, Response, json_response

logger = logging.getLogger(__name__)

_IDLE_TIMEOUT_SECONDS = 60  # an idle keep-alive connection is closed after this


class Answers(Protocol):
    """What the shell serves: the Canvas API (api.py) or the file store (file_store.py)."""

    def handle(self, request: Request) -> Response:
        """Answer one request; never raises."""


class BodyError(ValueError):
    """The request body could not be read (bad framing)."""


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the API its handlers call."""

    daemon_threads = True  # idle keep-alive connections must not block shutdown

    def __init__(self, address: tuple[str, int], api: Answers) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6  # an IPv6 literal such as ::1
        super().__init__(address, SandboxRequestHandler)
        self.api = api

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that drops its connection is routine here: log it, don't print it."""
        logger.debug("connection from %s failed", client_address, exc_info=True)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a `Request`, and the API's `Response` into bytes."""

    protocol_version = "HTTP/1.1"
    server_version = "CanvasSandbox/1.0"
    timeout = _IDLE_TIMEOUT_SECONDS

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Route http.server's access log to `logging` at DEBUG instead of stderr."""
        logger.debug("%s - " + format, self.address_string(), *args)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except BodyError as error:
            self.close_connection = True
            self._send(json_response(400, {"errors": [{"message": str(error)}]}))
            return
        api = cast(SandboxHTTPServer, self.server).api
        response = api.handle(self._request(body))
        if response.reset:
            self._reset()
        else:
            self._send(response)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST instead of answering.

        Linger on with a zero timeout makes close() send RST.  socketserver would call
        shutdown(SHUT_WR) first, which sends a FIN, so the socket is closed here; the read
        buffer holds a reference to it, so it is closed too for the close to take effect.
        The server's own shutdown/close of the socket afterwards fail harmlessly.
        """
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()

    def _request(self, body: bytes) -> Request:
        target = urlsplit(self.path)
        host = self.headers.get("Host") or _address_text(self.server.server_address)
        return Request(
            method=self.command,
            path=target.path,
            query=Params.from_query(target.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            base_url=f"http://{host}",
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise BodyError("invalid Content-Length") from None
        if length < 0:
            raise BodyError("invalid Content-Length")
        body = self.rfile.read(length)
        if len(body) != length:
            raise BodyError("request body shorter than Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BodyError("invalid chunk size") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailer fields, ignored
                return b"".join(chunks)
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.read(2) != b"\r\n":
                raise BodyError("truncated chunk")
            chunks.append(chunk)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def _address_text(address: object) -> str:
    """host:port of the listening socket, used when a client sends no Host header."""
    if isinstance(address, tuple):
        return f"{address[0]}:{address[1]}"
    return str(address)
