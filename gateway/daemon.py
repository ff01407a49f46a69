"""The composition root: recover, start the components in order, stop them in reverse.

This is the only place that reads settings as a whole and wires components together; every
component receives exactly what it needs.  Start order: folders and store, recovery, the
Canvas sandbox (if enabled), institutions, runners, and the SFTP listener last, so that no
upload is accepted before the gateway can take care of it.  Stop order is the reverse.

Every line it writes is a log line (JSON: see :mod:`gateway.logs`): ``gateway ready`` once
SFTP listens (with its URL), ``stopping`` with the signal's name on SIGTERM or SIGINT, and
``gateway stopped`` at the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from pydantic import SecretStr

from gateway.cluster.keeper import LeaseKeeper
from gateway.demo import announce_demo
from gateway.exports.exporter import Exporter
from gateway.exports.planner import start_period
from gateway.forwarding.forwarder import Forwarder
from gateway.instance import InstanceError, announce_http, hold, release
from gateway.institutions import Institution, SandboxTarget, resolve_institutions
from gateway.intake.hostkeys import read_configured_keys
from gateway.intake.service import Intake
from gateway.reporting.hook_sender import HookSender
from gateway.reporting.mailer import MailDirectory, Mailer, SmtpMailer, SmtpTarget
from gateway.reporting.notifier import Delivery, Notifier
from gateway.reporting.render import ReportRenderer
from gateway.reporting.status_file import write_status_file
from gateway.reporting.webhooks import Hook, resolve_hooks
from gateway.runner import EVERY_INSTITUTION, Holdings, Runner
from gateway.sandbox.server import CanvasSandbox
from gateway.settings import ConfigError, MailSettings, Settings, reachable_host, read_secret
from gateway.sorting.sorter import Sorter
from gateway.state.backends import listen, open_store
from gateway.state.custodies import build_custody, build_shelf, orphan_grace_seconds
from gateway.state.custody import Custody
from gateway.state.database import StoreUnavailable
from gateway.state.leases import LeaseBook, LeaseTable
from gateway.state.postgres import StoreListener
from gateway.state.recovery import mark_clean_stop, recover, recover_institution
from gateway.state.retention import Retention
from gateway.state.spool import Spool
from gateway.state.store import Store
from gateway.web.server import WebServer, start_web

log = logging.getLogger(__name__)

SANDBOX_ACCOUNT = "1"


@dataclass
class Components:
    """What is running, so it can be stopped in reverse order."""

    store: Store
    custody: Custody
    leases: LeaseBook | None = None
    """Cluster mode: the institutions this node holds (the runners act only on those)."""
    keeper: LeaseKeeper | None = None
    listener: StoreListener | None = None
    """Cluster mode: wake-ups from the other nodes (an upload they received)."""
    sandbox: CanvasSandbox | None = None
    runners: list[Runner] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    web: WebServer | None = None


def build_mailer(settings: MailSettings, spool: Spool) -> Mailer:
    """SMTP when configured, else .eml files in ``<data>/mail``."""
    smtp = settings.smtp
    if smtp is None:
        return MailDirectory(spool.mail)
    password: SecretStr | None = None
    if smtp.password_env or smtp.password_file:
        password = read_secret(env=smtp.password_env, file=smtp.password_file,
                               what="mail.smtp.password")
    return SmtpMailer(SmtpTarget(
        host=smtp.host, port=smtp.port, security=smtp.security, username=smtp.username,
        password=password.get_secret_value() if password else None,
        timeout_seconds=smtp.timeout_seconds))


def resolve_startup(settings: Settings, sandbox: SandboxTarget | None
                    ) -> tuple[list[Institution], list[Hook], Mailer]:
    """Everything :func:`serve` reads and checks before it listens (tokens, keys, template
    folders, webhook URLs, the SMTP password), each error naming its file or variable.
    ``gateway check config`` runs exactly this, so it passes only when serve would start."""
    institutions = resolve_institutions(settings, sandbox)
    if settings.sftp.host_key_files:
        try:
            read_configured_keys(settings.sftp.host_key_files)
        except ConfigError as error:
            raise ConfigError(f"{settings.source_of('sftp', 'host_key_files')}: {error}"
                              ) from None
    try:
        hooks = resolve_hooks(settings.webhooks)
    except ConfigError as error:
        raise ConfigError(f"{settings.source_of('webhooks')}: {error}") from None
    try:
        mailer = build_mailer(settings.mail, Spool(settings.data_dir))
    except ConfigError as error:
        raise ConfigError(f"{settings.source_of('mail', 'smtp')}: {error}") from None
    return institutions, hooks, mailer


def start_sandbox(settings: Settings) -> tuple[CanvasSandbox | None, SandboxTarget | None]:
    """Start the embedded Canvas simulator when enabled; returns it and how to reach it."""
    if not settings.sandbox.enabled:
        return None, None
    token = secrets.token_urlsafe(24)
    # Its imports live in the data dir, so ids go on across restarts as Canvas's do (the
    # gateway's reconcile must never meet a second import 1); the token is new each start
    # but stays the same Canvas user.
    sandbox = CanvasSandbox(accounts={SANDBOX_ACCOUNT: token},
                            processing_seconds=settings.sandbox.processing_seconds,
                            errors_file_delay_seconds=settings.sandbox.errors_file_delay_seconds,
                            report_seconds=settings.sandbox.report_seconds,
                            data_dir=settings.data_dir / "sandbox")
    url = sandbox.start()
    log.info("Canvas sandbox running", extra={"url": url, "account": SANDBOX_ACCOUNT})
    return sandbox, SandboxTarget(url, SecretStr(token))


async def serve(settings: Settings, stop: asyncio.Event,
                load: Callable[[], Settings] | None = None) -> None:
    """Run the gateway until ``stop`` is set; with ``load``, SIGHUP reloads the institutions
    from it.  Raises ConfigError before listening if the configuration cannot work (tokens
    missing, keys unreadable, another gateway running on the data dir or, in cluster mode,
    on the database, which cannot be reached either)."""
    try:
        lock = hold(settings.data_dir)  # before recovery: one gateway per data dir
    except InstanceError as error:
        raise ConfigError(str(error)) from None
    try:
        await _serve_locked(settings, stop, load)
    finally:
        release(settings.data_dir, lock)


async def _serve_locked(settings: Settings, stop: asyncio.Event,
                        load: Callable[[], Settings] | None) -> None:
    spool = Spool(settings.data_dir)
    objects = settings.cluster.objects
    spool.create(list(settings.institutions), shelf_folders=objects is None)
    custody = build_custody(spool, objects)  # first: a credential error opens nothing
    # Cluster mode: this node's writes for an institution are fenced by its lease.
    leases = LeaseBook(settings.cluster.node_name) if settings.cluster.enabled else None
    try:
        store = open_store(settings, leases=leases)
    except StoreUnavailable as error:
        raise ConfigError(str(error)) from None
    running = Components(store=store, custody=custody, leases=leases)
    orderly = False
    try:
        recover(running.store, spool, running.custody,
                max_recoveries=settings.forwarding.max_recoveries,
                orphan_grace_seconds=orphan_grace_seconds(objects), leased=leases is not None)
        running.sandbox, sandbox_target = start_sandbox(settings)
        resolved, hooks, _ = resolve_startup(settings, sandbox_target)
        institutions = {i.name: i for i in resolved}
        running.web = start_web(settings, spool, running.store, lambda: list(institutions),
                                lambda: {name: tuple(e.export_name for e in i.exports)
                                         for name, i in institutions.items()},
                                custody=running.custody)
        reload = _reloader(load, spool, institutions, sandbox_target)
        await _run(settings, spool, running, institutions, stop, reload=reload, hooks=hooks)
        orderly = True
    finally:
        for runner in reversed(running.runners):
            runner.stop()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        if running.listener is not None:
            running.listener.close()
        for runner in running.runners:
            if isinstance(runner, Forwarder | Exporter | Sorter):
                runner.close()
        if running.web is not None:
            running.web.stop()
        if running.sandbox is not None:
            running.sandbox.stop()
        # Every runner has finished its step (the forwarder waited for its POSTs): nothing
        # was cut short, so the next start must not count an interruption.  Only after an
        # orderly run: a failure may have left something half done.
        if orderly:
            _stopped_in_order(running)
        running.store.close()
        log.info("gateway stopped")


def _stopped_in_order(running: Components) -> None:
    """Record the clean stop; in cluster mode, hand every lease over at once (the runners
    have ended: nothing of this node's is under way) so others need not wait out its
    leases."""
    try:
        mark_clean_stop(running.store)
        if running.keeper is not None:
            running.keeper.resign()
    except StoreUnavailable:
        log.exception("could not record the clean stop or hand the leases over")


async def _run(settings: Settings, spool: Spool, running: Components,
               institutions: dict[str, Institution], stop: asyncio.Event, *,
               reload: Callable[[Intake], None], hooks: list[Hook]) -> None:
    store, custody = running.store, running.custody
    shelf = build_shelf(spool, custody)  # what vendors read: beside the payloads
    holdings: Holdings = running.leases if running.leases is not None else EVERY_INSTITUTION

    def report_notes(name: str, delivered: int) -> tuple[str, ...]:
        # The intake is made below; reports are only rendered once the runners run.
        warning = intake.quota_warning(name, delivered)
        return (warning,) if warning else ()

    notifier = Notifier(store=store, spool=spool, custody=custody,
                        institutions=lambda: institutions,
                        renderers=_renderers(institutions),
                        delivery=Delivery(build_mailer(settings.mail, spool), settings.mail),
                        notes=report_notes, holdings=holdings)
    forwarder = Forwarder(store=store, custody=custody, institutions=lambda: institutions,
                          settings=settings.forwarding, on_finished=notifier.wake,
                          holdings=holdings)

    def batch_sealed() -> None:
        forwarder.wake()
        notifier.wake()  # a rejected batch has a report to send

    def upload_received() -> None:
        sorter.wake()  # the sorter is made below: it asks the intake about open uploads

    intake = Intake(settings.sftp, spool=spool, store=store, custody=custody,
                    institutions=institutions,
                    on_received=upload_received, min_free_bytes=settings.storage.min_free_bytes,
                    node=settings.cluster.node_name if settings.cluster.enabled else None)
    # A dropped temp-named file shows in the sender's status.json at once.
    intake.receiver.on_discarded = partial(write_status_file, store, shelf)
    sorter = Sorter(store=store, custody=custody, institutions=lambda: institutions,
                    quiet_seconds=settings.batching.quiet_seconds, on_ready=batch_sealed,
                    intake=intake.deliveries,
                    workers=settings.batching.sorting_workers(os.cpu_count()), holdings=holdings)
    retention = Retention(store=store, spool=spool, custody=custody,
                          retention_days=settings.archive.retention_days, holdings=holdings)
    exporter = Exporter(store=store, spool=spool, institutions=lambda: institutions,
                        settings=settings.exports, on_notice=notifier.wake, holdings=holdings,
                        shelf=shelf, start_period_seconds=start_period(
                            settings.cluster.lease_seconds if settings.cluster.enabled
                            else None))
    intake.requests.handler = partial(_request_export, exporter)
    intake.requests.requestable = partial(_requestable, institutions)
    intake.requests.refusal = exporter.planner.refusal
    running.runners = [notifier, forwarder, sorter, retention, exporter]
    if running.leases is not None:
        running.keeper = LeaseKeeper(
            table=LeaseTable(store.database), book=running.leases,
            lease_seconds=settings.cluster.lease_seconds, institutions=lambda: list(institutions),
            on_acquired=partial(recover_institution, store,
                                max_recoveries=settings.forwarding.max_recoveries),
            on_change=partial(_wake_all, running.runners))
        running.runners.insert(0, running.keeper)
        running.listener = listen(store, partial(_woken, holdings, sorter))
    if hooks:
        running.runners.append(HookSender(store=store, hooks=hooks))
    running.tasks = [asyncio.create_task(runner.run(), name=runner.name)
                     for runner in running.runners]
    port = await intake.start()
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload, intake)
    log.info("SFTP listening", extra={"host": settings.sftp.host, "port": port})
    http_url = (f"http://{settings.http.host}:{running.web.port}/"
                if running.web is not None else None)
    if settings.demo:
        announce_demo(host=settings.sftp.host, port=port, mail=spool.mail, http_url=http_url)
    if running.web is not None:
        running.web.health.sftp_port = port  # /readyz: SFTP is up
        # The container's health check asks here, never re-reading the config.
        announce_http(settings.data_dir,
                      f"{reachable_host(settings.http.host)}:{running.web.port}")
    log.info("gateway ready", extra={"sftp_url": f"sftp://{settings.sftp.host}:{port}",
                                     "http_url": http_url})
    try:
        await stop.wait()
    finally:
        if running.web is not None:
            running.web.health.sftp_port = None  # /readyz fails from the first moment of stop
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGHUP, log.warning, "reload ignored: stopping")
        await intake.stop()


def _woken(holdings: Holdings, sorter: Sorter, payload: str) -> None:
    """Another node received an upload (``upload:<institution>``): sort it now if this
    node holds the institution, rather than at the sorter's next look."""
    kind, _, institution = payload.partition(":")
    if kind == "upload" and holdings.holds(institution):
        sorter.wake()


def _wake_all(runners: list[Runner]) -> None:
    """A lease was taken or lost: every runner looks at what it now holds."""
    for runner in runners:
        runner.wake()


def _request_export(exporter: Exporter, institution: str, name: str) -> None:
    """A request file arrived: queue the run and wake the exporter.  Raises LookupError
    (UnknownExportError) when the institution has no such export to request."""
    exporter.planner.request(institution, name)
    exporter.wake()


def _requestable(institutions: dict[str, Institution], name: str) -> tuple[str, ...]:
    """The exports institution ``name`` may ask for with a request file."""
    found = institutions.get(name)
    return tuple(sorted(e.export_name for e in (found.exports if found else ())
                        if e.on_request))


def _renderers(institutions: dict[str, Institution]) -> Callable[[str], ReportRenderer]:
    """One renderer per institution (its template overrides, if any), made on first use."""
    made: dict[str, ReportRenderer] = {}

    def renderer_for(name: str) -> ReportRenderer:
        if name not in made:
            institution = institutions.get(name)
            made[name] = ReportRenderer(institution.report_templates if institution else None)
        return made[name]

    return renderer_for


def _reloader(load: Callable[[], Settings] | None, spool: Spool,
              institutions: dict[str, Institution],
              sandbox: SandboxTarget | None) -> Callable[[Intake], None]:
    """What SIGHUP does: re-read the config's institutions and swap them in (the SFTP
    accounts and what the runners see), or log why not and keep the running ones."""

    def reload(intake: Intake) -> None:
        if load is None:
            log.warning("reload ignored: the gateway runs without a config file")
            return
        try:
            loaded = load()
            fresh = {i.name: i for i in resolve_institutions(loaded, sandbox)}
        except ConfigError as error:
            log.error("reload refused; the running configuration stays",
                      extra={"reason": str(error)})
            return
        spool.create(list(fresh), shelf_folders=loaded.cluster.objects is None)
        institutions.update(fresh)  # in place: the runners hold this dict
        for gone in set(institutions) - set(fresh):
            del institutions[gone]
        intake.reload(fresh)

    return reload


def run_until_signalled(settings: Settings, load: Callable[[], Settings] | None = None) -> None:
    """Serve until SIGTERM or SIGINT (logged as ``stopping``), then stop cleanly; SIGHUP
    reloads from ``load``."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stopping, signum, stop)
        # SIGHUP's default action kills the process: until the intake is up, a reload that
        # arrives early (the pid file exists from the start) is only logged.
        loop.add_signal_handler(signal.SIGHUP, log.warning, "reload ignored: still starting")
        await serve(settings, stop, load)

    asyncio.run(main())


def _stopping(signum: signal.Signals, stop: asyncio.Event) -> None:
    """A stop signal arrived: log it (again if repeated; the stop is under way) and stop."""
    log.info("stopping", extra={"signal": signum.name, "already_stopping": stop.is_set()})
    stop.set()
