"""The notifier runner: delivers the outbox's notices as reports (SFTP folder + email).

A notice is queued in the same transaction as the state change it reports, so a report can
never be forgotten.  Delivery is at least once: a crash between the mail server's acceptance
and the SENT mark resends, with the same Message-ID so mail clients show one message.  The
SFTP copy is written first and is idempotent (same names, same content).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from gateway.forwarding.backoff import retry_delay
from gateway.forwarding.steps import OPS_ALERT
from gateway.institutions import Institution
from gateway.reporting.assemble import report_for
from gateway.reporting.facts import BatchReport, Outcome
from gateway.reporting.mailer import DeliveryError, Mailer
from gateway.reporting.message import compose_message
from gateway.reporting.render import ReportRenderer, report_files
from gateway.runner import Runner
from gateway.settings import MailSettings
from gateway.state.records import NoticeRecord
from gateway.state.spool import Spool, publish_bytes
from gateway.state.states import NoticeState
from gateway.state.store import Store

log = logging.getLogger(__name__)

_OPS_OUTCOMES = frozenset({Outcome.FAILED, Outcome.HELD})


@dataclass(frozen=True)
class Delivery:
    """Where reports go: the mail transport and the addresses it uses."""

    mailer: Mailer
    settings: MailSettings
    domain: str = "sis-gateway"


class Notifier(Runner):
    """Sends every due PENDING notice; retries with backoff until the notice's lifetime ends."""

    name = "notifier"

    def __init__(self, *, store: Store, spool: Spool,
                 institutions: Callable[[], dict[str, Institution]],
                 renderer: ReportRenderer, delivery: Delivery) -> None:
        super().__init__(idle_seconds=5.0)
        self._store = store
        self._spool = spool
        self._institutions = institutions
        self._renderer = renderer
        self._delivery = delivery

    def step(self) -> bool:
        """Deliver each notice that is due; True if there were any."""
        due = self._store.notices(state=NoticeState.PENDING, due_by=self._store.clock())
        for notice in due:
            try:
                self._deliver(notice)
            except Exception as error:
                # One bad notice (a bug, an unwritable folder) must not stop the others:
                # it is retried with backoff like a mail outage, and fails after its lifetime.
                log.exception("report could not be prepared", extra={"notice_id": notice.id})
                self._failed(notice, DeliveryError(f"{type(error).__name__}: {error}",
                                                   transient=True))
        return bool(due)

    def _deliver(self, notice: NoticeRecord) -> None:
        report = self._report(notice)
        rendered = self._renderer.render(report)
        alert = notice.kind == OPS_ALERT
        if not alert:  # ops alerts are for operators, not the institution's folder
            for name, content in report_files(report, rendered).items():
                publish_bytes(self._spool.reports(report.institution) / name, content)
        recipients = (list(self._delivery.settings.ops), []) if alert else \
            self._recipients(report)
        try:
            if recipients[0] or recipients[1]:
                message = compose_message(
                    rendered, sender=self._delivery.settings.sender, to=recipients[0],
                    cc=recipients[1],
                    message_id=f"<{report.reference}.{notice.id}@{self._delivery.domain}>")
                self._delivery.mailer.send(message)
        except DeliveryError as error:
            self._failed(notice, error)
            return
        with self._store.transaction() as txn:
            txn.move("notice", notice.id, NoticeState.PENDING, NoticeState.SENT,
                     sent_at=txn.now, attempts=notice.attempts + 1)
        log.info("report delivered", extra={"notice_id": notice.id,
                                            "batch_id": notice.batch_id,
                                            "outcome": report.outcome.value})

    def _report(self, notice: NoticeRecord) -> BatchReport:
        if notice.batch_id is None:
            raise ValueError(f"notice {notice.id} names no batch")
        batch = self._store.batch(notice.batch_id)
        return report_for(batch, self._store.uploads(batch_id=batch.id),
                          reported=notice.batch_state, reason=notice.reason,
                          overdue=notice.kind == OPS_ALERT)

    def _recipients(self, report: BatchReport) -> tuple[list[str], list[str]]:
        institution = self._institutions().get(report.institution)
        to = list(institution.report_to) if institution else []
        cc = list(institution.report_cc) if institution else []
        if report.outcome in _OPS_OUTCOMES:
            cc += [address for address in self._delivery.settings.ops if address not in to]
        if not to and cc:
            to, cc = cc, []
        return to, cc

    def _failed(self, notice: NoticeRecord, error: DeliveryError) -> None:
        settings = self._delivery.settings
        attempts = notice.attempts + 1
        expired = self._store.clock() - notice.created_at > settings.lifetime_seconds
        with self._store.transaction() as txn:
            if error.transient and not expired:
                delay = retry_delay(attempts, initial=settings.retry_initial_seconds,
                                    maximum=settings.retry_max_seconds)
                txn.move("notice", notice.id, NoticeState.PENDING, NoticeState.PENDING,
                         attempts=attempts, last_error=str(error),
                         next_attempt_at=txn.now + delay)
            else:
                txn.move("notice", notice.id, NoticeState.PENDING, NoticeState.FAILED,
                         attempts=attempts, last_error=str(error))
        log.warning("report not delivered: %s", error, extra={
            "notice_id": notice.id, "transient": error.transient, "expired": expired})
