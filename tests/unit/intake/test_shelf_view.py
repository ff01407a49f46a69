"""/reports and /outbox as a client sees them through the shelf: temp names never show, and
a file replaced while read says so."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from gateway.intake.places import locate
from gateway.intake.shelf_view import ShelfView
from gateway.state.local_shelf import LocalShelf
from gateway.state.shelf import REPORTS, FileChangedError, Shelf
from gateway.state.spool import Spool


def test_a_temp_name_is_no_such_file_on_either_shelf(shelf: Shelf) -> None:
    shelf.publish_bytes("alpha", REPORTS, "status.json", b"{}")
    view = ShelfView(shelf, "alpha")
    for call in (view.stat, view.open):
        with pytest.raises(asyncssh.SFTPNoSuchFile, match="no such file"):
            asyncio.run(call(locate(b"/reports/.status.json.1a2b.tmp")))
    assert asyncio.run(view.stat(locate(b"/reports/status.json"))).size == 2


def test_a_file_changed_while_read_is_answered_with_what_to_do(
        spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    shelf = LocalShelf(spool)
    shelf.publish_bytes("alpha", REPORTS, "export.csv", b"a,b\n")
    view = ShelfView(shelf, "alpha")
    opened = asyncio.run(view.open(locate(b"/reports/export.csv")))

    def changed(offset: int, size: int) -> bytes:
        raise FileChangedError("export.csv was replaced or removed while it was read; "
                               "read it again")

    monkeypatch.setattr(opened.reader, "read", changed)
    with pytest.raises(asyncssh.SFTPNoSuchFile, match="read it again"):
        asyncio.run(view.read(opened, 0, 4))
