"""The outbox: reports say what was true when queued, and one bad notice stops no other."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from gateway.reporting.mailer import MailDirectory
from gateway.reporting.notifier import Delivery, Notifier
from gateway.reporting.render import ReportRenderer
from gateway.settings import MailSettings
from gateway.state.spool import Spool
from gateway.state.states import BatchState, NoticeState
from gateway.state.store import Store


def _notifier(tmp_path: Path) -> tuple[Notifier, Store, Spool]:
    spool = Spool(tmp_path)
    spool.create(["alpha", "beta"])
    store = Store(spool.database)
    notifier = Notifier(store=store, spool=spool, institutions=lambda: {},
                        renderers=lambda _: ReportRenderer(),
                        delivery=Delivery(MailDirectory(spool.mail),
                                          MailSettings(ops=["ops@example.edu"])))
    return notifier, store, spool


def test_a_report_states_the_outcome_it_was_queued_for(tmp_path: Path) -> None:
    notifier, store, spool = _notifier(tmp_path)
    with store.transaction() as txn:
        batch = txn.create_batch("alpha")
        txn.move("batch", batch, BatchState.OPEN, BatchState.READY)
        txn.move("batch", batch, BatchState.READY, BatchState.HELD, reason="Canvas said 401")
        txn.add_notice("batch_report", "alpha", batch, batch_state=BatchState.HELD,
                       reason="Canvas said 401")
        # The operator acts before the report goes out.
        txn.move("batch", batch, BatchState.HELD, BatchState.SKIPPED, reason="operator")
    assert notifier.step()
    [eml] = spool.mail.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert str(message["Subject"]).startswith("[Held]")
    assert "Canvas said 401" in (spool.reports("alpha") / "batch-000001.txt").read_text()
    assert [n.state for n in store.notices()] == [NoticeState.SENT]


def test_one_bad_notice_does_not_stop_the_others(tmp_path: Path) -> None:
    notifier, store, _ = _notifier(tmp_path)
    with store.transaction() as txn:
        broken = txn.create_batch("alpha")  # OPEN: there is nothing to report about it
        txn.add_notice("batch_report", "alpha", broken)
        fine = txn.create_batch("beta")
        txn.move("batch", fine, BatchState.OPEN, BatchState.REJECTED, reason="empty")
        txn.add_notice("batch_report", "beta", fine, batch_state=BatchState.REJECTED,
                       reason="empty")
    notifier.step()
    states = {n.batch_id: n for n in store.notices()}
    assert states[fine].state is NoticeState.SENT
    assert states[broken].state is NoticeState.PENDING
    assert states[broken].next_attempt_at > store.clock()
    assert "no report" in (states[broken].last_error or "")


def test_ops_alerts_go_to_ops_only_and_not_to_the_sftp_folder(tmp_path: Path) -> None:
    notifier, store, spool = _notifier(tmp_path)
    with store.transaction() as txn:
        batch = txn.create_batch("alpha")
        txn.move("batch", batch, BatchState.OPEN, BatchState.READY)
        txn.move("batch", batch, BatchState.READY, BatchState.SUBMITTING)
        txn.move("batch", batch, BatchState.SUBMITTING, BatchState.IMPORTING, import_id=9)
        txn.add_notice("ops_alert", "alpha", batch, batch_state=BatchState.IMPORTING,
                       reason="Canvas has been importing for 250 minutes")
    notifier.step()
    [eml] = spool.mail.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == "ops@example.edu"
    assert str(message["Subject"]).startswith("[Still importing]")
    assert list(spool.reports("alpha").iterdir()) == []


