"""History-length cost of the store's periodic work: retention, start-up recovery, metrics.

    python bench/history.py [--sizes 5000,20000] [--backend sqlite|postgres]

For each size, writes that many imported batches (one upload each, the transitions of a
real import, spread over the last 180 days) into a fresh store, then times, each the median
of five runs:

* ``retention``: one hourly pass once the expired batches are purged (the steady state:
  reads only what expired since the last pass) next to a read of every batch (what each
  pass cost before ``purged_at``);
* ``recovery``: the orphan check for the spool's upload files (the last 90 days': retention
  removes older ones) next to reading every upload record (the check before);
* ``metrics``: one scrape of the store collector (metric counters and live work only;
  ``bench/scrape.py`` times whole scrapes before and after that change).

``--backend postgres`` starts a throwaway PostgreSQL as the tests do (tests/postgres.py:
Debian's initdb/pg_ctl).  Prints one line per size and measure, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.state.local_custody import LocalCustody  # noqa: E402
from gateway.state.postgres import PostgresDatabase  # noqa: E402
from gateway.state.retention import DAY, Retention  # noqa: E402
from gateway.state.spool import Spool  # noqa: E402
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, UploadState  # noqa: E402
from gateway.state.store import Store  # noqa: E402
from gateway.web.collector import StoreCollector  # noqa: E402

NOW = 1_800_000_000.0
SPAN_DAYS = 180.0
KEEP_DAYS = 90.0
IMPORT_PATH = (BatchState.READY, BatchState.SUBMITTING, BatchState.IMPORTING,
               BatchState.IMPORTED)


def fill(store: Store, batches: int, clock: list[float]) -> list[int]:
    """Write ``batches`` imported batches, oldest first; returns their upload ids."""
    uploads = []
    for number in range(batches):
        clock[0] = NOW - SPAN_DAYS * DAY * (1 - number / batches)
        with store.transaction() as txn:
            upload = txn.record_upload(f"inst{number % 500:03d}", "users.csv", 100, "0" * 64)
            batch = txn.create_batch(f"inst{number % 500:03d}")
            txn.move("upload", upload, UploadState.RECEIVED, UploadState.ACCEPTED,
                     batch_id=batch)
            previous = BatchState.OPEN
            for state in IMPORT_PATH:  # posted, then finished, as the forwarder writes them
                times = ({"posted_at": clock[0]} if state is BatchState.IMPORTING else
                         {"finished_at": clock[0] + 30} if state is BatchState.IMPORTED else {})
                txn.move("batch", batch, previous, state, **times)
                previous = state
        uploads.append(upload)
    clock[0] = NOW
    return uploads


def median_ms(action: Callable[[], object]) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@contextmanager
def opener(backend: str) -> Iterator[Callable[[Path], Store]]:
    """Yields a function opening a fresh, empty store (on SQLite: at the path given)."""
    if backend == "sqlite":
        yield Store
        return
    from tests.postgres import PostgresServer

    server = PostgresServer()
    server.start()

    def fresh(_: Path) -> Store:
        name = f"bench_{time.monotonic_ns()}"
        server.admin(f"CREATE DATABASE {name}")
        return Store(PostgresDatabase(server.url(name)))

    try:
        yield fresh
    finally:
        server.stop()


def measure(size: int, backend: str, root: Path) -> dict[str, float]:
    clock = [NOW]
    spool = Spool(root / f"data-{size}")
    spool.create([])
    with opener(backend) as open_store:
        store = open_store(spool.database)
        store.clock = lambda: clock[0]
        uploads = fill(store, size, clock)
        retention = Retention(store=store, spool=spool, custody=LocalCustody(spool),
                              retention_days=KEEP_DAYS)
        retention.step()  # the first pass purges the expired half; then the steady state
        recent = uploads[len(uploads) // 2:]
        figures = {
            "retention pass": median_ms(retention.step),
            "retention before (read every batch)": median_ms(store.batches),
            "recovery orphan check": median_ms(lambda: store.known_uploads(recent)),
            "recovery before (read every upload)": median_ms(store.uploads),
            "metrics scrape": median_ms(lambda: list(StoreCollector(
                store, list, spool.root, 0).collect())),
        }
        assert store.unpurged_batches(FINISHED_BATCH_STATES, NOW - KEEP_DAYS * DAY, 1) == []
        store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,20000")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateway-history-") as folder:
        for size in (int(text) for text in args.sizes.split(",")):
            for name, value in measure(size, args.backend, Path(folder)).items():
                print(f"{args.backend} {size:>7} batches  {name:<38} {value:9.1f} ms")


if __name__ == "__main__":
    main()
