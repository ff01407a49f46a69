"""One /metrics scrape against the length of the history, before and after a change.

    python bench/scrape.py [--days 10,90] [--institutions 500] [--scrapes 5] [--rounds 3]
                           [--backend sqlite|postgres] [--also NAME=DIR]

For each number of days, writes a history into a fresh store with this tree's code: every
institution imports one batch a day (an upload, the transitions of a real import, its
report sent) and publishes one export a day, spread over the days.  Then times whole
scrapes (the registry's text, every collector) of that store, and apart from them the
store and export collectors alone (their reads, without the text): in ``--rounds``
processes of ``--scrapes`` scrapes each (after one to warm the caches), the median of each
process's medians.  On SQLite it also counts the VM steps of one scrape: what the store
reads, whatever the load of the machine.  ``--also NAME=DIR`` (repeatable) times the scrape
of another source tree on the same store too (a git worktree of the commit before a change:
its code opens the store as a node of that version would, migrated one step further), in
the same run, its processes alternating with this tree's.  ``--backend postgres`` starts a
throwaway PostgreSQL as the tests do (tests/postgres.py).  Prints one line per history
length and tree, in milliseconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.state.postgres import PostgresDatabase  # noqa: E402
from gateway.state.states import (  # noqa: E402
    BatchState,
    ExportRunState,
    NoticeState,
    UploadState,
)
from gateway.state.store import Store  # noqa: E402
from gateway.state.transaction import Transaction  # noqa: E402

DAY = 86400.0
START = 1_800_000_000.0
EXPORT = "nightly"
_TIMER = """
import json, statistics, sys, time
from pathlib import Path
tree, target, data_dir, count, scrapes = sys.argv[1:6]
sys.path.insert(0, tree)
from gateway.state.postgres import PostgresDatabase
from gateway.state.store import Store
from gateway.web.collector import StoreCollector
from gateway.web.export_metrics import ExportCollector
from gateway.web.metrics import exposition, metrics_registry
store = Store(PostgresDatabase(target) if "://" in target else Path(target))
names = [f"inst{n:03d}" for n in range(int(count))]
exports = lambda: {name: ("nightly",) for name in names}
registry = metrics_registry(store, lambda: names, Path(data_dir), 0, exports)
collectors = [StoreCollector(store, lambda: names, Path(data_dir), 0),
              ExportCollector(store, exports)]
size = len(exposition(registry))
scraped, read = [], []
for _ in range(int(scrapes)):
    started = time.perf_counter()
    exposition(registry)
    scraped.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    for collector in collectors:
        list(collector.collect())
    read.append((time.perf_counter() - started) * 1000)
steps = [0]
if "://" not in target:
    def tick():
        steps[0] += 1
        return 0
    connection = store.database._connection()
    connection.set_progress_handler(tick, 1)
    exposition(registry)
    connection.set_progress_handler(None, 1)
print(json.dumps({"ms": statistics.median(scraped), "read_ms": statistics.median(read),
                  "bytes": size, "steps": steps[0]}))
"""


def _import(txn: Transaction, institution: str, day: float, number: int) -> None:
    """One batch imported as the forwarder does it: posted a while after its upload,
    finished some seconds later, its report sent."""
    txn.now = day + number  # a second apart, so each institution's day is its own
    upload = txn.record_upload(institution, "users.csv", 1000 + number, "0" * 64)
    batch = txn.create_batch(institution)
    txn.move("upload", upload, UploadState.RECEIVED, UploadState.ACCEPTED, batch_id=batch)
    txn.move("batch", batch, BatchState.OPEN, BatchState.READY)
    txn.move("batch", batch, BatchState.READY, BatchState.SUBMITTING)
    posted = txn.now + 30 + (number % 7) * 100
    txn.move("batch", batch, BatchState.SUBMITTING, BatchState.IMPORTING, posted_at=posted)
    txn.move("batch", batch, BatchState.IMPORTING, BatchState.IMPORTED,
             finished_at=posted + 5 + number % 50)
    notice = txn.add_notice("batch_report", institution, batch,
                            batch_state=BatchState.IMPORTED)
    txn.move("notice", notice, NoticeState.PENDING, NoticeState.SENT, sent_at=posted + 60)


def _export(txn: Transaction, institution: str, day: float) -> None:
    """One export run published."""
    run = txn.add_export_run(institution, EXPORT, "provisioning_csv", slot=f"{day:.0f}",
                             trigger="schedule", parameters={})
    assert run is not None
    path = (ExportRunState.SCHEDULED, ExportRunState.STARTING, ExportRunState.STARTED,
            ExportRunState.DOWNLOADED, ExportRunState.PUBLISHED)
    for previous, state in itertools.pairwise(path):
        txn.move("export_run", run, previous, state,
                 published_at=txn.now if state is ExportRunState.PUBLISHED else None)


def fill(store: Store, days: int, institutions: int) -> None:
    """``days`` of history, one transaction a day."""
    names = [f"inst{n:03d}" for n in range(institutions)]
    for offset in range(days):
        day = START + offset * DAY
        with store.transaction() as txn:
            for number, name in enumerate(names):
                _import(txn, name, day, number)
                _export(txn, name, day)


@contextmanager
def databases(backend: str, root: Path) -> Iterator[Iterator[str]]:
    """Yields fresh, empty store targets: SQLite paths, or PostgreSQL URLs."""
    if backend == "sqlite":
        yield (str(root / f"state-{n}.db") for n in range(1_000_000))
        return
    from tests.postgres import PostgresServer

    server = PostgresServer()
    server.start()

    def fresh() -> Iterator[str]:
        while True:
            name = f"bench_{time.monotonic_ns()}"
            server.admin(f"CREATE DATABASE {name}")
            yield server.url(name)

    try:
        yield fresh()
    finally:
        server.stop()


def open_store(target: str) -> Store:
    return Store(PostgresDatabase(target) if "://" in target else Path(target))


def time_scrape(tree: Path, target: str, data_dir: Path, institutions: int,
                scrapes: int) -> dict[str, float]:
    """The median scrape of ``tree``'s code on ``target``, in a process of its own (one
    warm-up scrape first: the size of the text)."""
    done = subprocess.run([sys.executable, "-c", _TIMER, str(tree), target, str(data_dir),
                           str(institutions), str(scrapes)], check=True, capture_output=True,
                          text=True, timeout=3600)
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def _named_tree(option: str) -> tuple[str, Path]:
    """``NAME=DIR`` of ``--also``, checked."""
    name, _, folder = option.partition("=")
    source = Path(folder).resolve()
    if not name or name == "this" or not (source / "gateway").is_dir():
        raise SystemExit(f"--also {option}: give NAME=DIR, NAME not 'this', DIR a source "
                         "tree of the gateway (with a gateway/ package)")
    return name, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", default="10,90")
    parser.add_argument("--institutions", type=int, default=500)
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=DIR")
    args = parser.parse_args()
    trees = {"this": REPO, **dict(_named_tree(option) for option in args.also)}
    with tempfile.TemporaryDirectory(prefix="gateway-scrape-") as folder, \
            databases(args.backend, Path(folder)) as targets:
        for days in (int(text) for text in args.days.split(",")):
            target = next(targets)
            store = open_store(target)
            started = time.perf_counter()
            fill(store, days, args.institutions)
            store.close()
            print(f"{args.backend} {days:>3} days x {args.institutions} institutions: "
                  f"{days * args.institutions} imports, {days * args.institutions} exports "
                  f"(written in {time.perf_counter() - started:.0f} s)", flush=True)
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
            for _ in range(args.rounds):  # the trees alternate: both see the same load
                for name, tree in trees.items():
                    rounds[name].append(time_scrape(tree, target, Path(folder),
                                                    args.institutions, args.scrapes))
            for name, figures in rounds.items():
                print(_line(name, figures), flush=True)


def _line(name: str, rounds: list[dict[str, float]]) -> str:
    """One tree's figures: medians over the rounds; VM steps on SQLite."""
    scrape = statistics.median(figures["ms"] for figures in rounds)
    read = statistics.median(figures["read_ms"] for figures in rounds)
    steps = rounds[0]["steps"]
    counted = f", {steps:,.0f} SQLite VM steps" if steps else ""
    return (f"  {name:<10} scrape {scrape:7.1f} ms, of which the store collectors "
            f"{read:7.1f} ms ({rounds[0]['bytes'] / 1e6:.1f} MB of text{counted})")

if __name__ == "__main__":
    main()
