"""The SFTP intake as the daemon runs it: receiver, trigger/sidecar ledger, login guard and
listener, built from the settings, reloadable, and stopped gracefully.

``reload`` swaps the accounts (keys, passwords, allowed addresses, limits) used by new
logins; live sessions keep the institution they logged in as, so nobody is disconnected.
Listener settings (``[sftp]``: address, algorithms, ban policy, password checks, the
per-address cap) apply at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from gateway.institutions import Institution
from gateway.intake.auth import AccountBook, Accounts, Guard
from gateway.intake.bans import BanList, BanPolicy, Bans, networks
from gateway.intake.config import SftpSettings
from gateway.intake.connections import Arrivals
from gateway.intake.deliveries import Deliveries
from gateway.intake.in_flight import SharedInFlight
from gateway.intake.inbox import StoredReceipts
from gateway.intake.limits import SessionCount, Sessions
from gateway.intake.listener import IntakeListener
from gateway.intake.markers import Markers
from gateway.intake.passwords import PasswordChecker
from gateway.intake.receiving import Receiver
from gateway.intake.requests import RequestDesk
from gateway.intake.session import IntakeServices
from gateway.intake.shared_guard import GuardSync, SharedBans, SharedSessions
from gateway.state.custodies import build_shelf
from gateway.state.custody import Custody
from gateway.state.protocols import StateStore
from gateway.state.spool import Spool

log = logging.getLogger(__name__)


def ban_policy(settings: SftpSettings) -> BanPolicy:
    """The brute-force policy the ``[sftp]`` settings describe."""
    return BanPolicy(failures=settings.ban_failures, window=settings.ban_window_seconds,
                     ban=settings.ban_seconds, ban_max=settings.ban_max_seconds,
                     safelist=networks(settings.safelist))


class Intake:
    """Everything SFTP.  Create on the event loop; ``start`` listens, ``stop`` ends."""

    def __init__(self, settings: SftpSettings, *, spool: Spool, store: StateStore,
                 custody: Custody, institutions: Mapping[str, Institution],
                 on_received: Callable[[], None], min_free_bytes: int = 0,
                 node: str | None = None) -> None:
        """``node``: this node's name in a cluster, whose open uploads, bans and sessions
        are shared through the store (None: one machine, all of them in memory)."""
        self._settings = settings
        self._spool = spool
        self._institutions = dict(institutions)
        self.receiver = Receiver(
            store, spool, on_received, custody=custody, min_free_bytes=min_free_bytes,
            in_flight=None if node is None else SharedInFlight(store.intake.open_uploads(node)),
            receipts=None if node is None else StoredReceipts(store.intake.inbox))
        self.deliveries = Deliveries(store.intake.marks,
                                     trigger_mode=self._trigger_mode,
                                     uploads_open=self.receiver.uploads_open)
        # Before any sorter reads them: an older data dir's marks move into the store once.
        self.deliveries.import_files(spool.deliveries)
        self._passwords = PasswordChecker(settings.password_check_threads,
                                          settings.password_checks_waiting)
        self._book = AccountBook(Accounts.of(list(self._institutions.values())))
        arrivals = Arrivals(settings.max_unauthenticated_per_address,
                            exempt=networks(settings.safelist))
        bans, sessions = self._login_limits(store, node)
        guard = Guard(book=self._book, passwords=self._passwords, bans=bans,
                      arrivals=arrivals, sessions=sessions,
                      max_auth_tries=settings.max_auth_tries)
        self.requests = RequestDesk()
        """Export requests (``/inbox/requests/<export>``); the daemon sets its handler."""
        services = IntakeServices(self.receiver, Markers(self.receiver, self.deliveries),
                                  self.requests)
        self._listener = IntakeListener(settings, spool, guard, services,
                                        build_shelf(spool, custody))

    def _login_limits(self, store: StateStore, node: str | None) -> tuple[Bans, Sessions]:
        """Bans and session counts: this node's in memory, or a cluster's in the store
        (exchanged by a thread started here, stopped with the intake)."""
        policy = ban_policy(self._settings)
        if node is None:
            self._guard_sync: GuardSync | None = None
            return BanList(policy), SessionCount()
        rows = store.intake.guard(node)
        bans, sessions = SharedBans(rows, policy), SharedSessions(rows)
        self._guard_sync = GuardSync(bans, sessions, rows)
        self._guard_sync.start()
        return bans, sessions

    def _trigger_mode(self, institution: str) -> bool:
        known = self._institutions.get(institution)
        return known is not None and bool(known.intake.trigger_files)

    async def start(self) -> int:
        """Listen for SFTP; return the port."""
        self._clear_legacy_inbox_links()
        return await self._listener.start()

    def reload(self, institutions: Mapping[str, Institution]) -> None:
        """Use ``institutions``' accounts and options for every new login from now on."""
        self._institutions = dict(institutions)
        self._book.swap(Accounts.of(list(self._institutions.values())))
        log.info("SFTP accounts reloaded", extra={"institutions": sorted(self._institutions)})

    def quota_warning(self, institution: str, delivered: int = 0) -> str | None:
        """A sentence for the institution's reports when its pending bytes (plus
        ``delivered``: a delivery just taken off the queue) near the quota (safe from any
        thread: it reads the store with that thread's connection)."""
        known = self._institutions.get(institution)
        if known is None:
            return None
        limit = known.intake.max_pending_bytes
        allowance = self.receiver.allowance(institution, limit)
        allowance.refresh(self.receiver.pending_bytes(institution), limit)
        return allowance.warning(extra=delivered)  # the live quota itself is not touched

    async def stop(self) -> None:
        """Stop accepting, let completing uploads finish, close sessions, stop the threads."""
        try:
            await self._listener.stop(self._settings.shutdown_grace_seconds)
        finally:
            self.receiver.close()
            self._passwords.close()
            if self._guard_sync is not None:
                self._guard_sync.stop()

    def _clear_legacy_inbox_links(self) -> None:
        """Earlier versions showed received files as hard links in ``inbox/``; the inbox is
        virtual now and those links (never authoritative) only expose spool inodes."""
        for name in self._institutions:
            folder = self._spool.inbox(name)
            for path in folder.iterdir() if folder.is_dir() else ():
                if path.is_file() and not path.is_symlink():
                    path.unlink()
