"""Cookies Canvas sets while one institution's reports are fetched never travel with
another's: the exporter's clients, against a real HTTP server on loopback that sets a
session cookie on every answer (as canvas-lms does) and records the cookies it receives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import SecretStr

from gateway.exports.config import ExportsSettings
from gateway.exports.exporter import Exporter
from gateway.institutions import CanvasTarget, Institution
from gateway.state.spool import Spool
from gateway.state.store import Store


class _Canvas(BaseHTTPRequestHandler):
    """Answers every GET with an empty list and a cookie naming the token that asked."""

    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        self.seen.append((token, self.headers.get("Cookie")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", f"canvas_session={token}; Path=/; HttpOnly")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def canvas() -> Iterator[str]:
    _Canvas.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canvas)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def institution(name: str, base_url: str, account: str) -> Institution:
    return Institution(name=name, username=name, password_hash=None, authorized_keys=(),
                       canvas=CanvasTarget(base_url, account, SecretStr(f"token-{name}")),
                       report_to=(), report_cc=())


def test_no_cookie_of_one_institution_is_sent_with_another(canvas: str, store: Store,
                                                          tmp_path: Path) -> None:
    alpha, beta = institution("alpha", canvas, "1"), institution("beta", canvas, "2")
    exporter = Exporter(store=store, spool=Spool(tmp_path / "data"),
                        institutions=lambda: {"alpha": alpha, "beta": beta},
                        settings=ExportsSettings())
    try:
        for which in (alpha, beta, alpha, beta):
            exporter.client_for(which).runs("grade_export_csv")
    finally:
        exporter.close()
    assert [token for token, _ in _Canvas.seen] == ["token-alpha", "token-beta"] * 2
    assert [cookie for _, cookie in _Canvas.seen] == [None] * 4
