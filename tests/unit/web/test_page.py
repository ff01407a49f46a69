"""The status page's overview as HTML: alerts with their commands, last upload and last
success with ages, rejected files marked, version and uptime."""

from __future__ import annotations

from gateway.state.custodies import build_shelf
from gateway.state.custody import Custody
from gateway.state.local_custody import LocalCustody
from gateway.state.report_names import ReportStage, report_name
from gateway.state.shelf import REPORTS
from gateway.state.spool import Spool
from gateway.state.states import BatchState, NoticeKind, NoticeState, UploadState
from gateway.state.store import Store
from gateway.web.activity import SftpActivity
from gateway.web.health import Health
from gateway.web.metrics import VERSION
from gateway.web.page import StatusPages, age
from tests.unit.history import Clock, batch_of, imported, received


def _pages(store: Store, spool: Spool, activity: SftpActivity | None = None) -> StatusPages:
    return StatusPages(store=store, spool=spool, custody=LocalCustody(spool),
                       institutions=lambda: ["alpha", "beta"],
                       health=Health(store, spool.root, 0), activity=activity or SftpActivity())


def test_alerts_name_every_parked_state_with_its_command(
        store: Store, spool: Spool, clock: Clock) -> None:
    held = batch_of(store, [received(store, spool, "alpha", "users.csv")],
                    (BatchState.READY, BatchState.HELD), reason="Canvas said 401")
    failed = imported(store, spool, clock, "beta", waited=1, processing=1,
                      outcome=BatchState.FAILED)
    with store.transaction() as txn:
        txn.hold_institution("beta", "term rollover")
        notice = txn.add_notice(NoticeKind.BATCH_REPORT, "alpha", held)
        txn.move("notice", notice, NoticeState.PENDING, NoticeState.FAILED,
                 last_error="relay said 550")
    activity = SftpActivity(clock)
    activity.login_failed()
    activity.banned(600)

    page = _pages(store, spool, activity).overview()

    for text in (f"Batch #{held} of alpha is held: Canvas said 401",
                 f"gateway release {held} (send it)", f"gateway skip {held}",
                 f"Batch #{failed} of beta failed in Canvas",
                 f"gateway requeue {failed}", "gateway release beta",
                 "beta is held: term rollover",
                 f"Report of batch #{held} for alpha could not be delivered: relay said 550",
                 "1 SFTP address ban in force", "1 failed SFTP login in the last hour"):
        assert text in page, text
    assert page.index("could not be delivered") < page.index("beta is held")  # errors first


def test_a_webhook_event_given_up_is_an_alert(store: Store, spool: Spool) -> None:
    with store.transaction() as txn:
        notice = txn.add_notice(NoticeKind.GATEWAY_ERROR, "alpha", None, reason="bug")
        txn.queue_hook_events("ops-chat", {notice: "gateway_error"}, notice)
    [delivery] = store.hook_deliveries()
    with store.transaction() as txn:
        txn.hook_attempted(delivery, NoticeState.FAILED, error="HTTP 404")
    page = _pages(store, spool).overview()
    assert f"Webhook ops-chat gave up telling of gateway_error (notice {notice}): HTTP 404" \
        in page


def test_no_alerts_says_so(store: Store, spool: Spool) -> None:
    assert "Nothing waits for an operator." in _pages(store, spool).overview()


def test_last_upload_and_success_show_with_ages_version_and_uptime(
        store: Store, spool: Spool, clock: Clock) -> None:
    pages = _pages(store, spool)
    imported(store, spool, clock, "alpha", waited=10, processing=20, import_id=4242)
    clock.now += 180
    received(store, spool, "alpha", "courses.csv")
    clock.now += 60

    page = pages.overview()

    assert "courses.csv<br>" in page  # alpha's last upload
    assert "(1 min ago)" in page  # ... received a minute ago
    assert "(4 min ago)" in page  # the import finished 240 s ago
    assert "none yet" in page  # beta never sent anything
    assert f"version {VERSION}" in page
    assert "up 4 min" in page


def test_a_rejected_file_is_marked_in_the_recent_batches(store: Store, spool: Spool) -> None:
    good = received(store, spool, "alpha", "users.csv")
    bad = received(store, spool, "alpha", "people.csv")
    with store.transaction() as txn:
        batch = txn.create_batch("alpha")
        txn.move("upload", good, UploadState.RECEIVED, UploadState.ACCEPTED, batch_id=batch)
        txn.move("upload", bad, UploadState.RECEIVED, UploadState.REJECTED, batch_id=batch,
                 problem="people.csv: not an SIS file")
    page = _pages(store, spool).overview()
    assert '<span class="file">users.csv</span>' in page
    assert 'title="people.csv: not an SIS file">people.csv (rejected)</span>' in page


def test_ages_read_in_their_largest_unit() -> None:
    assert [age(s) for s in (-3, 2, 42, 180, 7200, 3 * 86400)] == [
        "just now", "just now", "42 s ago", "3 min ago", "2 h ago", "3 d ago"]


def test_recent_batches_link_the_reports_published_for_them(
        store: Store, spool: Spool, custody: Custody) -> None:
    """On either shelf: a batch with a report in /reports links it; one without does not."""
    reported = batch_of(store, [received(store, spool, "alpha", "users.csv")],
                        (BatchState.READY,))
    batch_of(store, [received(store, spool, "beta", "users.csv")], (BatchState.READY,))
    shelf = build_shelf(spool, custody)
    shelf.publish_bytes("alpha", REPORTS, report_name(store.batch(reported).reference,
                                                      ReportStage.RECEIPT, ".txt"), b"ok")
    pages = StatusPages(store=store, spool=spool, custody=custody,
                        institutions=lambda: ["alpha", "beta"],
                        health=Health(store, spool.root, 0), activity=SftpActivity())
    page = pages.overview()
    assert page.count('#report">report</a>') == 1
    assert f'href="/batches/{reported}#report"' in page
