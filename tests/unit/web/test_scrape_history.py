"""/metrics against the length of the history: purging history never lowers a counter, and
a scrape reads no more with a long history than with a short one."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gateway.state.local_custody import LocalCustody
from gateway.state.retention import DAY, Retention
from gateway.state.spool import Spool
from gateway.state.states import BatchState
from gateway.state.store import Store
from gateway.web.metrics import exposition, metrics_registry
from tests.sqlite_steps import vm_steps
from tests.unit.history import Clock, batch_of, many_imports, received

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
INSTITUTIONS = ["alpha", "beta", "gamma"]
HISTORY_FAMILIES = ("gateway_uploads_total", "gateway_upload_bytes_total",
                    "gateway_imports_total", "gateway_upload_to_post_seconds",
                    "gateway_post_to_finish_seconds", "gateway_last_upload_timestamp_seconds",
                    "gateway_last_success_timestamp_seconds")


def _scrape(store: Store, spool: Spool) -> Samples:
    registry = metrics_registry(store, lambda: INSTITUTIONS, spool.root, 0,
                                lambda: {"alpha": ("nightly",)})
    text = exposition(registry).decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _history_part(samples: Samples) -> Samples:
    """The samples that count history: the counters, the histograms, the timestamps, and
    ``gateway_batches`` of finished states."""
    finished = {"imported", "imported_with_messages", "rejected", "skipped"}
    return {key: value for key, value in samples.items()
            if key[0].startswith(HISTORY_FAMILIES)
            or (key[0] == "gateway_batches" and dict(key[1])["state"] in finished)}


def _imports(store: Store, clock: Clock, count: int) -> None:
    """``count`` imports per institution, each waiting 40 s and taking 3 s (the same
    buckets every time), written in one transaction."""
    many_imports(store, INSTITUTIONS, count, posted_at=clock.now + 40,
                 finished_at=clock.now + 43)


def _purge_records(store: Store) -> None:
    """Delete every record of finished work, as a purge of old records would."""
    with store.database.transaction() as session:
        for table in ("findings", "notices", "canvas_imports", "uploads", "transitions",
                      "export_runs", "batches"):
            session.execute(f"DELETE FROM {table}")


def test_purging_history_leaves_every_counter_as_it_was(
        store: Store, spool: Spool, clock: Clock) -> None:
    _imports(store, clock, 3)
    batch_of(store, [received(store, spool, "beta", "users.csv")], (BatchState.REJECTED,),
             finished_at=clock.now)
    before = _history_part(_scrape(store, spool))
    assert before[("gateway_batches", frozenset({("institution", "alpha"),
                                                 ("state", "imported")}))] == 3
    assert before[("gateway_upload_to_post_seconds_count",
                   frozenset({("institution", "gamma")}))] == 3

    clock.now += 200 * DAY
    Retention(store=store, spool=spool, custody=LocalCustody(spool), retention_days=90).step()
    assert _history_part(_scrape(store, spool)) == before
    _purge_records(store)
    assert store.batches() == []
    assert _history_part(_scrape(store, spool)) == before


def test_a_scrape_reads_no_more_with_a_long_history(tmp_path: Path, spool: Spool,
                                                    clock: Clock) -> None:
    store = Store(tmp_path / "counted.db", clock=clock)  # SQLite: its VM steps are counted
    _imports(store, clock, 5)
    received(store, spool, "beta", "users.csv")  # live work: a waiting upload, a batch
    batch_of(store, [received(store, spool, "alpha", "courses.csv")], (BatchState.READY,))
    few = vm_steps(store, lambda: _scrape(store, spool))
    history_read = vm_steps(store, store.batches)

    _imports(store, clock, 500)
    many = vm_steps(store, lambda: _scrape(store, spool))
    assert many == few
    assert vm_steps(store, store.batches) > 50 * history_read  # the count sees history
    samples = _scrape(store, spool)
    assert samples[("gateway_imports_total", frozenset({("institution", "alpha"),
                                                        ("outcome", "imported")}))] == 505
    assert samples[("gateway_batches", frozenset({("institution", "alpha"),
                                                  ("state", "ready")}))] == 1
    assert samples[("gateway_queue_depth", frozenset({("institution", "alpha")}))] == 1
