"""``/reports/status.json``: the institution's queue at a glance, for vendors to automate on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.ops.status import status_rows
from gateway.state.protocols import StateStore
from gateway.state.shelf import REPORTS, Shelf

STATUS_FILE = "status.json"
STATUS_FORMAT = 1


def write_status_file(store: StateStore, shelf: Shelf, institution: str) -> None:
    """Rewrite the institution's status.json (last success, queue, in flight, held/failed)
    on its shelf (replaced whole: readers see the old one or the new one)."""
    [row] = status_rows(store, [institution], only=institution, public=True)
    document = {"format": STATUS_FORMAT,
                "generated_at": datetime.fromtimestamp(store.clock(), tz=UTC).isoformat(
                    timespec="seconds"),
                **row}
    shelf.publish_bytes(institution, REPORTS, STATUS_FILE,
                        json.dumps(document, indent=2).encode() + b"\n")
