"""Work that should not grow with history: retention, a metrics scrape, start-up recovery.

    python bench/history.py [--institutions 500] [--days 9,90] [--per-day 2] [--repeats 5]

For each ``--days`` count, builds a store holding that many days of finished history for
``--institutions`` institutions (``--per-day`` imported batches of one upload each per
institution per day, each with its receipt and report notices sent), in a fresh data dir,
through the store's own transactions.  Then times, ``--repeats`` times each and interleaved:

- ``retention``: the hourly retention pass once everything older than the retention period
  has been purged (the steady state: nothing to remove, 30-day retention);
- ``metrics``: one Prometheus scrape of the gateway's registry (what ``/metrics`` serves);
- ``recovery``: start-up recovery after a clean stop.

Prints the median seconds of each per history size, and the ratio of the largest history's
to the smallest's: about 1.0 when the cost is independent of history, about the ratio of
the sizes when it grows linearly with it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.state.recovery import mark_clean_stop, recover  # noqa: E402
from gateway.state.retention import Retention  # noqa: E402
from gateway.state.spool import Spool  # noqa: E402
from gateway.state.states import BatchState, NoticeKind, NoticeState, UploadState  # noqa: E402
from gateway.state.store import Store, Transaction  # noqa: E402
from gateway.web.metrics import metrics_registry  # noqa: E402

DAY = 86400.0
START = 1_700_000_000.0
RETENTION_DAYS = 30.0
PATH = (BatchState.READY, BatchState.SUBMITTING, BatchState.IMPORTING, BatchState.IMPORTED)


class Clock:
    """The store's clock, moved by the history builder and then left at its end."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def build(root: Path, institutions: list[str], days: int, per_day: int) -> tuple[Store, Spool]:
    """A data dir under ``root`` with ``days`` days of finished history."""
    spool = Spool(root)
    spool.create(institutions)
    clock = Clock()
    store = Store(spool.database, clock=clock)
    for day in range(days):
        clock.now = START + day * DAY
        with store.transaction() as txn:
            for institution in institutions:
                for _ in range(per_day):
                    _imported_batch(txn, institution)
    clock.now = START + days * DAY
    return store, spool


def _imported_batch(txn: Transaction, institution: str) -> None:
    """One upload in one batch, posted and imported, its two notices sent."""
    upload = txn.record_upload(institution, "users.csv", 40, "0" * 64)
    batch = txn.create_batch(institution)
    txn.move("upload", upload, UploadState.RECEIVED, UploadState.ACCEPTED,
             batch_id=batch, kind="user", rows=1)
    current = BatchState.OPEN
    for state in PATH:
        fields: dict[str, Any] = {}
        if state is BatchState.IMPORTING:
            fields = {"import_id": batch, "posted_at": txn.now}
        elif state is BatchState.IMPORTED:
            fields = {"finished_at": txn.now, "canvas_state": "imported"}
        txn.move("batch", batch, current, state, **fields)
        current = state
    for kind in (NoticeKind.BATCH_RECEIPT, NoticeKind.BATCH_REPORT):
        notice = txn.add_notice(kind, institution, batch)
        txn.move("notice", notice, NoticeState.PENDING, NoticeState.SENT,
                 sent_at=txn.now, attempts=1)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--institutions", type=int, default=500)
    parser.add_argument("--days", default="9,90")
    parser.add_argument("--per-day", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    names = [f"inst{number:04d}" for number in range(args.institutions)]
    sizes = [int(days) for days in args.days.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-history-") as scratch:
        runs: dict[int, dict[str, Callable[[], object]]] = {}
        for days in sizes:
            started = time.perf_counter()
            store, spool = build(Path(scratch) / f"d{days}", names, days, args.per_day)
            batches = days * args.per_day * len(names)
            print(f"history of {days} days: {batches:,} batches, built in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
            retention = Retention(store=store, spool=spool, retention_days=RETENTION_DAYS)
            retention.step()  # the first pass purges the old payloads; then steady state
            runs[days] = tasks(store, spool, retention, metrics_registry(
                store, lambda: names, spool.root, 0))
        report(runs, args.repeats)


def tasks(store: Store, spool: Spool, retention: Retention,
          registry: CollectorRegistry) -> dict[str, Callable[[], object]]:
    """The three timed tasks over one history."""
    def restart() -> None:
        mark_clean_stop(store)
        recover(store, spool, max_recoveries=3)

    return {"retention": retention.step, "metrics": lambda: generate_latest(registry),
            "recovery": restart}


def report(runs: dict[int, dict[str, Callable[[], object]]], repeats: int) -> None:
    """Interleave the sizes' runs of each task, then print medians and the ratio."""
    seconds: dict[tuple[int, str], list[float]] = {}
    for _ in range(repeats):
        for days, tasks in runs.items():
            for task, action in tasks.items():
                seconds.setdefault((days, task), []).append(timed(action))
    sizes = sorted(runs)
    print(f"{'task':<10}" + "".join(f"{f'{days} days':>14}" for days in sizes)
          + f"{'ratio':>8}")
    for task in ("retention", "metrics", "recovery"):
        medians = [statistics.median(seconds[(days, task)]) for days in sizes]
        ratio = medians[-1] / medians[0] if medians[0] else float("inf")
        print(f"{task:<10}" + "".join(f"{median:>12.4f} s" for median in medians)
              + f"{ratio:>8.2f}")
    print(f"(medians of {repeats} interleaved runs; the histories differ "
          f"{sizes[-1] / sizes[0]:.0f}x in size)")


if __name__ == "__main__":
    main()
