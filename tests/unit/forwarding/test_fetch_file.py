"""Who receives the token while a Canvas file is fetched: the Canvas origin only.

A redirect is followed by hand (``CanvasClient.fetch_file``); each hop is checked here with
a stand-in session that records the headers of every request and answers from a script.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.forwarding.canvas import CanvasClient
from gateway.institutions import CanvasTarget

TOKEN = "canvas-token-1234"


class _Answer:
    def __init__(self, status: int, location: str | None = None, body: bytes = b"") -> None:
        self.status_code = status
        self.headers = {"Location": location} if location else {}
        self.is_redirect = location is not None
        self._body = body

    def iter_content(self, size: int) -> Iterator[bytes]:
        yield self._body

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *_: object) -> None:
        return None


class _Session:
    """Answers each URL from ``script``; records (url, Authorization) of every request."""

    def __init__(self, script: dict[str, _Answer]) -> None:
        self.script = script
        self.seen: list[tuple[str, str | None]] = []

    def get(self, url: str, *, headers: dict[str, str], **_: Any) -> _Answer:
        self.seen.append((url, headers.get("Authorization")))
        return self.script[url]


def _fetch(base: str, script: dict[str, _Answer], start: str) -> _Session:
    session = _Session(script)
    target = CanvasTarget(base, "1", SecretStr(TOKEN))
    client = CanvasClient(target, timeout_seconds=5, session=session)  # type: ignore[arg-type]
    assert client.fetch_file(start, max_bytes=100) == b"data"
    return session


@pytest.mark.parametrize("hop", [
    "http://canvas.example.edu/store/f",        # https -> http: the token would go in clear
    "https://canvas.example.edu:8443/store/f",  # same host, another port (another server)
    "https://files.example.edu/store/f",        # the file store
])
def test_the_token_never_follows_a_redirect_off_the_canvas_origin(hop: str) -> None:
    start = "https://canvas.example.edu/files/1/download"
    session = _fetch("https://canvas.example.edu", {
        start: _Answer(302, hop), hop: _Answer(200, body=b"data")}, start)
    assert session.seen == [(start, f"Bearer {TOKEN}"), (hop, None)]


def test_a_redirect_chain_back_to_the_origin_over_http_carries_no_token() -> None:
    start = "https://canvas.example.edu/files/1/download"
    store = "https://files.example.edu/f?verifier=x"
    back = "http://CANVAS.example.edu:80/files/1/raw"
    session = _fetch("https://canvas.example.edu", {
        start: _Answer(302, store), store: _Answer(302, back),
        back: _Answer(200, body=b"data")}, start)
    assert [auth for _, auth in session.seen] == [f"Bearer {TOKEN}", None, None]


@pytest.mark.parametrize("hop", [
    "https://CANVAS.example.edu/files/1/raw",      # host names are case-insensitive
    "https://canvas.example.edu:443/files/1/raw",  # the default port, written out
])
def test_the_canvas_origin_itself_gets_the_token_however_it_is_written(hop: str) -> None:
    start = "https://canvas.example.edu/files/1/download"
    session = _fetch("https://canvas.example.edu", {
        start: _Answer(302, hop), hop: _Answer(200, body=b"data")}, start)
    assert [auth for _, auth in session.seen] == [f"Bearer {TOKEN}"] * 2
