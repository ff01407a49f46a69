"""SSH authentication: each institution logs in with its own username, by key or password.

Passwords are only ever compared against argon2id hashes, on a small executor of their own
(with a bounded backlog), so a password-spraying client can neither starve upload
acknowledgements nor queue unbounded work.  Unknown users go through the same hashing as
known ones so that response times do not reveal which usernames exist.  Neither passwords
nor hashes are logged; usernames are logged shortened and escaped.

Defences per connection: a banned address is dropped at once, a login from outside the
institution's ``allowed_cidrs`` fails, ``max_auth_tries`` failures end the connection, and
``max_sessions`` caps an institution's concurrent connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import asyncssh
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.institutions import Institution
from gateway.intake.bans import BanList, address_in
from gateway.intake.limits import SessionCount
from gateway.web.metrics import SFTP_AUTH_FAILURES, SFTP_BANS

log = logging.getLogger(__name__)

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("no such user")
RSA_SHA1 = b"ssh-rsa"


@dataclass(frozen=True)
class Accounts:
    """The SFTP accounts in force, by username."""

    by_username: dict[str, Institution]

    @classmethod
    def of(cls, institutions: list[Institution]) -> Accounts:
        """Index institutions by their SFTP username."""
        return cls({institution.username: institution for institution in institutions})


class AccountBook:
    """The accounts new logins are checked against; ``gateway reload`` swaps them while live
    sessions keep the institution they logged in as."""

    def __init__(self, accounts: Accounts) -> None:
        self.current = accounts

    def swap(self, accounts: Accounts) -> None:
        """Use ``accounts`` for every login from now on."""
        self.current = accounts


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches the argon2 ``password_hash`` (None never matches)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


class PasswordChecker:
    """argon2 verification on its own threads, refusing when ``backlog`` checks wait."""

    def __init__(self, workers: int = 2, backlog: int = 32) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        self._backlog = backlog
        self._waiting = 0

    async def check(self, password_hash: str | None, password: str) -> bool:
        """Verify off the event loop; False without hashing when the backlog is full."""
        if self._waiting >= self._backlog:
            log.warning("password check refused: too many checks waiting")
            return False
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, verify_password,
                                              password_hash, password)
        finally:
            self._waiting -= 1

    def close(self) -> None:
        """Stop the hashing threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class Guard:
    """What every connection shares: accounts, password checks, bans, session counts."""

    book: AccountBook
    passwords: PasswordChecker
    bans: BanList
    sessions: SessionCount
    max_auth_tries: int


def shown(username: str) -> str:
    """A username as logs show it: escaped and at most 64 characters (it may be garbage,
    or a password typed into the wrong field)."""
    return username[:64].encode("unicode_escape").decode("ascii")


class GatewaySSHServer(asyncssh.SSHServer):
    """Authenticates one SSH connection against the institutions' accounts."""

    def __init__(self, guard: Guard,
                 on_lost: Callable[[GatewaySSHServer], None] = lambda _: None) -> None:
        self._guard = guard
        self._on_lost = on_lost
        self._conn: asyncssh.SSHServerConnection | None = None
        self.peer = "?"
        self.institution: Institution | None = None
        self._candidate: Institution | None = None
        self._failures = 0
        self._counted = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Remember the peer; drop it at once while its address is banned."""
        self._conn = conn
        peer = conn.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "?"
        remaining = self._guard.bans.banned_for(self.peer)
        if remaining:
            log.warning("connection refused: address banned",
                        extra={"peer": self.peer, "seconds_left": round(remaining)})
            conn.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the institution's session slot."""
        if self._counted and self.institution is not None:
            self._guard.sessions.leave(self.institution.name)
            self._counted = False
        self._on_lost(self)

    def close(self) -> None:
        """Close this connection (its sessions end; unfinished uploads are discarded)."""
        if self._conn is not None:
            self._conn.close()

    def begin_auth(self, username: str) -> bool:
        """Always require authentication."""
        return True

    def password_auth_supported(self) -> bool:
        """Passwords are accepted for institutions that have a password hash."""
        return True

    def public_key_auth_supported(self) -> bool:
        """Keys are accepted for institutions that list authorized keys."""
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        """Check a password with argon2 on the password threads."""
        institution = self._guard.book.current.by_username.get(username)
        if institution is not None and not self._address_allowed(institution):
            return self._result(username, "password", None, "address not allowed")
        stored = institution.password_hash if institution else None
        ok = await self._guard.passwords.check(stored, password)
        return self._result(username, "password", institution if ok else None, "bad password")

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Accept a key listed for the institution with this username.

        The key object asyncssh passes here is the one it then verifies the signature with:
        removing ``ssh-rsa`` from its signature algorithms refuses RSA/SHA-1 signatures.
        """
        key.all_sig_algorithms = set(key.all_sig_algorithms) - {RSA_SHA1}
        institution = self._guard.book.current.by_username.get(username)
        if institution is not None and not self._address_allowed(institution):
            return self._result(username, "publickey", None, "address not allowed")
        wanted = key.public_data
        listed = institution is not None and any(
            known.public_data == wanted for known in institution.authorized_keys)
        return self._result(username, "publickey", institution if listed else None,
                            "key not listed")

    def auth_completed(self) -> None:
        """Admit the session unless the institution already has ``max_sessions`` live."""
        institution = self._candidate
        assert institution is not None
        assert self._conn is not None
        self.institution = institution
        log.info("login accepted", extra={"institution": institution.name, "peer": self.peer})
        limit = institution.intake.max_sessions
        self._counted = self._guard.sessions.enter(institution.name, limit)
        if not self._counted:
            log.warning("session refused: too many sessions", extra={
                "institution": institution.name, "peer": self.peer, "max_sessions": limit})
            self._conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS,
                                  f"{institution.username} already has {limit} sessions open "
                                  "(max_sessions); close one and try again")

    def _address_allowed(self, institution: Institution) -> bool:
        nets = institution.allowed_networks
        return not nets or address_in(self.peer, nets)

    def _result(self, username: str, method: str, institution: Institution | None,
                why: str) -> bool:
        extra = {"username": shown(username), "peer": self.peer, "method": method}
        if institution is not None:
            self._candidate = institution  # admitted in auth_completed, once auth succeeds
            return True
        self._failures += 1
        log.warning("login refused: %s", why, extra=extra)
        SFTP_AUTH_FAILURES.labels(method=method).inc()
        ban = self._guard.bans.failed(self.peer)
        if ban:
            log.warning("address banned", extra={"peer": self.peer, "seconds": round(ban)})
            SFTP_BANS.inc()
        if (ban or self._failures >= self._guard.max_auth_tries) and self._conn is not None:
            self._conn.disconnect(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                                  "too many authentication failures")
        return False
