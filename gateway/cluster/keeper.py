"""The lease keeper: this node's heartbeat, and the leases it holds, renews, takes and gives.

Every ``lease_seconds / 3`` it: beats its heartbeat; renews the leases it holds (one it
failed to renew in time is dropped from the book at once: the store's fence already refuses
its writes); computes its share of the institutions over the live nodes (rendezvous
hashing, ``gateway.cluster.assignment``); takes the free or expired leases of its share
(epoch + 1), running the institution's recovery before any runner acts on it; and releases
the leases outside its share (a node joined), so their new holder need not wait for them
to expire.  A node that dies holds its leases until they expire: another takes over within
``lease_seconds`` plus one round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from gateway.cluster.assignment import share
from gateway.runner import Runner
from gateway.state.leases import LeaseBook, LeaseTable

log = logging.getLogger(__name__)


class LeaseKeeper(Runner):
    """Keeps ``book`` true for ``node`` against ``table``.

    ``institutions`` lists the configured institutions; ``on_acquired(name)`` runs after a
    lease is taken and entered in the book, before the runners are woken (``on_change``):
    the per-institution recovery.  If it raises, the lease is released again."""

    name = "lease-keeper"

    def __init__(self, *, table: LeaseTable, book: LeaseBook, lease_seconds: float,
                 institutions: Callable[[], Iterable[str]],
                 on_acquired: Callable[[str], object] = lambda _: None,
                 on_change: Callable[[], None] = lambda: None) -> None:
        super().__init__(idle_seconds=lease_seconds / 3)
        self._table = table
        self._book = book
        self._ttl = lease_seconds
        self._institutions = institutions
        self._on_acquired = on_acquired
        self._on_change = on_change

    def step(self) -> bool:
        """One round (see the module docstring); False: the loop then waits a third of the
        lease time."""
        node = self._book.node
        self._table.heartbeat(node)
        held = self._book.held()
        asked_at = time.monotonic()  # before the request: never later than the database's
        kept = self._table.renew(node, held, self._ttl)
        self._book.renewed(kept, asked_at + self._ttl)
        for lost in sorted(set(held) - kept):
            self._book.drop(lost)
            log.warning("lease lost", extra={"institution": lost, "epoch": held[lost]})
        wanted = share(self._institutions(), self._table.live_nodes(self._ttl), node)
        changed = bool(set(held) - kept)
        for institution in sorted(kept - wanted):
            self._release(institution, held[institution])
            changed = True
        # Taking a lease runs the institution's recovery: a round that takes hundreds (a
        # node's start, another's death) stops after a third of the lease time, so the
        # next round renews what is held before it expires; the rest are taken then.
        deadline = time.monotonic() + self._ttl / 3
        for institution in sorted(wanted - kept):
            if time.monotonic() > deadline:
                break
            changed = self._acquire(institution) or changed
        if changed:
            self._on_change()
        return False

    def _acquire(self, institution: str) -> bool:
        asked_at = time.monotonic()
        epoch = self._table.acquire(institution, self._book.node, self._ttl)
        if epoch is None:
            return False  # another node still holds it: its lease expires or it hands over
        self._book.gain(institution, epoch, asked_at + self._ttl)
        try:
            self._on_acquired(institution)
        except Exception:
            log.exception("recovery on taking a lease failed; giving it back",
                          extra={"institution": institution, "epoch": epoch})
            self._release(institution, epoch)
            return False
        log.info("lease taken", extra={"institution": institution, "epoch": epoch})
        return True

    def _release(self, institution: str, epoch: int) -> None:
        # Out of the book first: from here on no runner starts work for it, and the
        # fence refuses what is still under way (the row no longer names this node).
        self._book.drop(institution)
        if self._table.release(institution, self._book.node, epoch):
            log.info("lease handed over", extra={"institution": institution, "epoch": epoch})

    def resign(self) -> None:
        """An orderly stop (after the runners ended): release every lease and leave the
        live nodes, so the others take over at their next round, not after the expiry."""
        for institution, epoch in sorted(self._book.held().items()):
            self._release(institution, epoch)
        self._table.forget_node(self._book.node)
