"""Brute-force defence: an address that fails to log in too often is refused for a while.

``failures`` failed attempts within ``window`` seconds ban the address for ``ban`` seconds;
each further ban of the same address doubles the time, up to ``ban_max``.  Safelisted
networks (monitoring, the vendor's fixed gateway) are never banned.  Pure logic with an
injected clock; the listener logs bans (address and duration, never the credentials tried).
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_TRACKED = 100_000
"""Addresses remembered at most; the oldest are forgotten first, so a flood of spoofed
sources cannot exhaust memory."""


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse CIDR texts (validated at config load) into networks."""
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def address_in(address: str, nets: Iterable[Network]) -> bool:
    """Whether ``address`` (an IP as text) lies in any of ``nets``; unparsable never does."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in nets)


@dataclass(frozen=True)
class BanPolicy:
    """How many failures in what window ban an address, and for how long."""

    failures: int
    window: float
    ban: float
    ban_max: float
    safelist: tuple[Network, ...] = ()


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    banned_until: float = 0.0
    bans: int = 0


class Bans(Protocol):
    """Failed logins and bans by address, as the listener asks (from the event loop only):
    this node's (BanList), or every node's (gateway.intake.shared_guard.SharedBans)."""

    policy: BanPolicy

    def banned_for(self, address: str) -> float:
        """Seconds left of ``address``'s ban (0 when it may connect); no store round-trip."""
        ...

    def failed(self, address: str) -> float:
        """Count a failed login; return the length of the ban it triggers (0 for none)."""
        ...


class BanList:
    """Failed logins and bans by address.  Used from the event loop only."""

    def __init__(self, policy: BanPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def banned_for(self, address: str) -> float:
        """Seconds left of ``address``'s ban (0 when it may connect)."""
        record = self._records.get(address)
        return max(0.0, record.banned_until - self._clock()) if record else 0.0

    def failed(self, address: str, others: int = 0) -> float:
        """Count a failed login; return the length of the ban it triggers (0 for none).
        ``others``: the address's failures within the window seen by other nodes."""
        if address_in(address, self.policy.safelist):
            return 0.0
        now = self._clock()
        record = self._records.pop(address, None) or _Record()
        self._records[address] = record  # re-inserted: dict order is least recently seen
        record.failures.append(now)
        while record.failures and now - record.failures[0] > self.policy.window:
            record.failures.popleft()
        self._forget_oldest()
        if len(record.failures) + others < self.policy.failures:
            return 0.0
        record.failures.clear()
        length = min(self.policy.ban * 2.0 ** record.bans, self.policy.ban_max)
        record.bans += 1
        record.banned_until = now + length
        return length

    def bans(self, address: str) -> int:
        """How many times ``address`` was banned (while it is remembered)."""
        record = self._records.get(address)
        return record.bans if record else 0

    def _forget_oldest(self) -> None:
        while len(self._records) > MAX_TRACKED:
            del self._records[next(iter(self._records))]
