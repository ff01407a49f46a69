"""``/reports/status.json``: the institution's queue at a glance, for vendors to automate on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.ops.status import status_rows
from gateway.state.protocols import StateStore
from gateway.state.spool import Spool, publish_bytes

STATUS_FILE = "status.json"
STATUS_FORMAT = 1


def write_status_file(store: StateStore, spool: Spool, institution: str) -> None:
    """Rewrite the institution's status.json (last success, queue, in flight, held/failed)."""
    [row] = status_rows(store, [institution], only=institution, public=True)
    document = {"format": STATUS_FORMAT,
                "generated_at": datetime.fromtimestamp(store.clock(), tz=UTC).isoformat(
                    timespec="seconds"),
                **row}
    publish_bytes(spool.reports(institution) / STATUS_FILE,
                  json.dumps(document, indent=2).encode() + b"\n")
