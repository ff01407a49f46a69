"""A report file is streamed from the sandbox's file store (its own server on loopback) to
the spool: never whole in memory, the size cap enforced while streaming, the token never
sent to the file store's host."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.exports.canvas_reports import ReportsClient
from gateway.forwarding.canvas import CanvasClient, CanvasError
from gateway.institutions import CanvasTarget
from gateway.sandbox.server import CanvasSandbox

TOKEN = "download-test-token"
BIG = 32 << 20


@pytest.fixture
def sandbox() -> Iterator[CanvasSandbox]:
    with CanvasSandbox(accounts={"1": TOKEN}) as running:
        yield running


def reports(sandbox: CanvasSandbox) -> ReportsClient:
    target = CanvasTarget(sandbox.base_url, "1", SecretStr(TOKEN))
    return ReportsClient(CanvasClient(target, timeout_seconds=30), "1")


def finished(sandbox: CanvasSandbox, content: bytes) -> dict[str, Any]:
    """A complete Report JSON whose file the file store serves (Canvas's redirect target)."""
    url = sandbox.file_store.offer("report.csv", "text/csv", content)
    return {"id": 7, "status": "complete", "attachment": {"url": url,
                                                          "filename": "report.csv"}}


def test_a_large_report_is_streamed_to_disk_not_held_in_memory(
        sandbox: CanvasSandbox, tmp_path: Path) -> None:
    content = bytes(range(256)) * (BIG // 256)
    report, client = finished(sandbox, content), reports(sandbox)
    destination = tmp_path / "run-000001"
    tracemalloc.start()
    try:
        name, size, _ = client.download(report, destination, max_bytes=BIG)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (name, size) == ("report.csv", BIG)
    assert destination.read_bytes() == content
    assert peak < BIG // 4, f"{peak} bytes held while downloading {BIG}"
    assert all(seen.authorization is None and seen.access_token is None
               for seen in sandbox.file_store.requests())


def test_a_report_over_the_cap_fails_permanently_and_leaves_no_file(
        sandbox: CanvasSandbox, tmp_path: Path) -> None:
    report, client = finished(sandbox, b"x" * (3 << 20)), reports(sandbox)
    with pytest.raises(CanvasError, match="larger than 1048576 bytes") as raised:
        client.download(report, tmp_path / "run-000001", max_bytes=1 << 20)
    assert not raised.value.transient
    assert list(tmp_path.iterdir()) == []
