"""/metrics as Prometheus parses it: the store's uploads, batches, imports, queues, outbox."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from gateway.state.spool import Spool
from gateway.state.states import BatchState
from gateway.state.store import Store
from gateway.web.metrics import (
    FILES_REJECTED,
    SFTP_AUTH_FAILURES,
    VERSION,
    exposition,
    login_accepted,
    metrics_registry,
    session_closed,
    session_opened,
)
from tests.unit.history import Clock, batch_of, imported, received

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(store: Store, spool: Spool, floor: int = 0) -> Samples:
    registry = metrics_registry(store, lambda: ["alpha", "beta", "gamma"], spool.root, floor)
    text = exposition(registry).decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _at(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_imports_durations_and_uploads_come_from_the_store(
        store: Store, spool: Spool, clock: Clock) -> None:
    imported(store, spool, clock, "alpha", waited=40, processing=3)
    imported(store, spool, clock, "alpha", waited=20, processing=100,
             outcome=BatchState.FAILED)
    samples = _scrape(store, spool)

    assert _at(samples, "gateway_imports_total", institution="alpha", outcome="imported") == 1
    assert _at(samples, "gateway_imports_total", institution="alpha", outcome="failed") == 1
    assert _at(samples, "gateway_uploads_total", institution="alpha") == 2
    assert _at(samples, "gateway_upload_bytes_total", institution="alpha") == 2 * 37
    assert _at(samples, "gateway_uploads_total", institution="gamma") == 0
    # upload→post: 40 s and 20 s; post→finish: 3 s and 100 s.
    assert _at(samples, "gateway_upload_to_post_seconds_bucket", institution="alpha",
               le="15.0") == 0
    assert _at(samples, "gateway_upload_to_post_seconds_bucket", institution="alpha",
               le="30.0") == 1
    assert _at(samples, "gateway_upload_to_post_seconds_sum", institution="alpha") == 60
    assert _at(samples, "gateway_post_to_finish_seconds_bucket", institution="alpha",
               le="5.0") == 1
    assert _at(samples, "gateway_post_to_finish_seconds_bucket", institution="alpha",
               le="+Inf") == 2
    assert _at(samples, "gateway_post_to_finish_seconds_count", institution="alpha") == 2


def test_queue_depth_age_holds_and_outbox(store: Store, spool: Spool, clock: Clock) -> None:
    waiting = received(store, spool, "beta", "users.csv")
    clock.now += 100
    ready = batch_of(store, [received(store, spool, "alpha", "courses.csv")],
                     (BatchState.READY,))
    clock.now += 50
    with store.transaction() as txn:
        txn.hold_institution("beta", "vendor asked for a pause")
        txn.add_notice("batch_report", "alpha", ready)
    samples = _scrape(store, spool)

    assert _at(samples, "gateway_uploads_waiting", institution="beta") == 1
    assert _at(samples, "gateway_queue_depth", institution="alpha") == 1
    assert _at(samples, "gateway_queue_depth", institution="beta") == 0
    assert _at(samples, "gateway_queue_oldest_age_seconds", institution="alpha") == 50
    assert _at(samples, "gateway_queue_oldest_age_seconds", institution="beta") == 150
    assert _at(samples, "gateway_queue_oldest_age_seconds", institution="gamma") == 0
    assert _at(samples, "gateway_batches", institution="alpha", state="ready") == 1
    assert _at(samples, "gateway_institution_held", institution="beta") == 1
    assert _at(samples, "gateway_institution_held", institution="alpha") == 0
    assert _at(samples, "gateway_outbox_depth", state="pending") == 1
    assert _at(samples, "gateway_outbox_depth", state="failed") == 0
    assert waiting == 1


def test_event_counters_and_disk_are_exposed(store: Store, spool: Spool) -> None:
    before = _scrape(store, spool)
    SFTP_AUTH_FAILURES.labels(method="password").inc()
    after = _scrape(store, spool, floor=1 << 20)
    counted = ("gateway_sftp_auth_failures_total", frozenset({("method", "password")}))
    assert after[counted] == before.get(counted, 0) + 1
    assert _at(after, "gateway_disk_free_bytes") > 0
    assert _at(after, "gateway_disk_floor_bytes") == 1 << 20


def test_last_upload_and_last_success_are_timestamps_zero_when_never(
        store: Store, spool: Spool, clock: Clock) -> None:
    imported(store, spool, clock, "alpha", waited=10, processing=20)
    finished = clock.now
    clock.now += 100
    received(store, spool, "alpha", "courses.csv")
    samples = _scrape(store, spool)

    assert _at(samples, "gateway_last_success_timestamp_seconds", institution="alpha") == \
        finished
    assert _at(samples, "gateway_last_upload_timestamp_seconds", institution="alpha") == \
        clock.now
    assert _at(samples, "gateway_last_success_timestamp_seconds", institution="beta") == 0
    assert _at(samples, "gateway_last_upload_timestamp_seconds", institution="beta") == 0


def test_sessions_logins_rejections_build_and_process_without_created_series(
        store: Store, spool: Spool) -> None:
    before = _scrape(store, spool)
    login_accepted("alpha")
    session_opened("alpha")
    FILES_REJECTED.labels(code="not_sis_file").inc()
    after = _scrape(store, spool)

    def grew(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after[key] - before.get(key, 0)

    assert grew("gateway_sftp_logins_total", institution="alpha") == 1
    assert grew("gateway_sftp_sessions", institution="alpha") == 1
    assert grew("gateway_files_rejected_total", code="not_sis_file") == 1
    session_closed("alpha")
    assert _at(_scrape(store, spool), "gateway_sftp_sessions", institution="alpha") == \
        before.get(("gateway_sftp_sessions", frozenset({("institution", "alpha")})), 0)
    assert _at(after, "gateway_build_info", version=VERSION) == 1
    assert _at(after, "process_start_time_seconds") > 0
    assert _at(after, "process_resident_memory_bytes") > 0
    assert not [name for name, _ in after if name.endswith("_created")]


def test_a_bucket_under_a_bound_no_longer_used_counts_in_every_bound_above_it(
        store: Store, spool: Spool, clock: Clock) -> None:
    imported(store, spool, clock, "alpha", waited=40, processing=3)
    with store.database.transaction() as session:  # as stored by bounds of another version
        session.execute("INSERT INTO metric_counters (family, institution, label, value)"
                        " VALUES ('upload_to_post', 'alpha', '10.0', 2)")
    samples = _scrape(store, spool)

    def bucket(le: str) -> float:
        return _at(samples, "gateway_upload_to_post_seconds_bucket", institution="alpha", le=le)

    assert [bucket("5.0"), bucket("15.0"), bucket("60.0"), bucket("+Inf")] == [0, 2, 3, 3]
    assert _at(samples, "gateway_upload_to_post_seconds_count", institution="alpha") == 3
