"""SSH authentication: each institution logs in with its own username, by key or password.

Passwords are only ever compared against argon2id hashes, on threads of their own shared
fairly between usernames (:mod:`gateway.intake.passwords`), so a password spray can neither
starve upload acknowledgements nor refuse another institution's login.  A check refused
because too many are waiting is not a failed login: the client is told to try again, and
nothing counts toward a ban.  Neither passwords nor hashes are logged; usernames are logged
shortened and escaped.  A login as a username no institution has is logged as ``unknown user``
(and still costs the client a full password check); the client hears only that it failed.

Logs: every line about a connection carries its ``session`` (a short random id), ``peer`` and
``peer_port``, and from its first login attempt the ``client_version`` it announced.  Behind
a load balancer speaking PROXY, ``peer`` is the client the balancer names (so bans, the
per-address cap and ``allowed_cidrs`` judge the client) and ``via`` is the balancer.

Defences per connection: a banned address is dropped at once, as is a connection beyond the
address's cap on connections still logging in (a ban closes those too); a login from outside
the institution's ``allowed_cidrs`` fails, ``max_auth_tries`` failures end the connection,
``max_sessions`` caps an institution's concurrent connections, and a logged-in connection
that makes no SFTP request for ``idle_timeout_seconds`` is closed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import asyncssh

from gateway.institutions import Institution
from gateway.intake.bans import Bans, address_in
from gateway.intake.connections import Arrivals, IdleWatch
from gateway.intake.limits import Sessions
from gateway.intake.passwords import OverloadedError, PasswordChecker
from gateway.intake.proxy_gate import BALANCER
from gateway.logs import Bound
from gateway.state.database import StoreUnavailable
from gateway.web.metrics import (
    SFTP_PASSWORD_CHECKS_REFUSED,
    address_banned,
    login_accepted,
    login_refused,
    session_closed,
    session_opened,
)

log = logging.getLogger(__name__)

RSA_SHA1 = b"ssh-rsa"
UNKNOWN_USER = "unknown user"


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


@dataclass(frozen=True)
class Guard:
    """What every connection shares: accounts, password checks, bans, connections still
    logging in, session counts."""

    book: AccountBook
    passwords: PasswordChecker
    bans: Bans
    arrivals: Arrivals
    sessions: Sessions
    max_auth_tries: int


def shown(username: str) -> str:
    """A username as logs show it: escaped and at most 64 characters (it may be garbage,
    or a password typed into the wrong field)."""
    return username[:64].encode("unicode_escape").decode("ascii")


class GatewaySSHServer(asyncssh.SSHServer):
    """Authenticates one SSH connection against the institutions' accounts, and closes it
    once logged in if it stays idle."""

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
        self._lost = False
        self._admission: asyncio.Task[None] | None = None
        """A cluster's session count under way (see :meth:`auth_completed`)."""
        self._idle: IdleWatch | None = None
        self.fields: dict[str, object] = {"session": secrets.token_hex(4)}
        """The log fields of this connection's lines (its sessions' and uploads' too)."""
        self.log = Bound(log, self.fields)

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Remember the peer; drop it at once while its address is banned or already has
        its cap of connections logging in."""
        self._conn = conn
        peer = conn.get_extra_info("peername")  # the client's, behind a PROXY balancer
        self.peer = str(peer[0]) if peer else "?"
        self.fields.update(peer=self.peer, peer_port=peer[1] if peer else None)
        balancer = conn.get_extra_info(BALANCER)
        if balancer:
            self.fields["via"] = balancer[0]
        remaining = self._guard.bans.banned_for(self.peer)
        if remaining:
            self.log.warning("connection refused: address banned",
                             extra={"seconds_left": round(remaining)})
            conn.abort()
        elif not self._guard.arrivals.arrive(self.peer, self):
            self.log.warning(
                "connection refused: too many connections logging in from the address",
                extra={"max_unauthenticated_per_address": self._guard.arrivals.limit})
            conn.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the institution's session slot and the address's login slot."""
        self._guard.arrivals.leave(self.peer, self)
        if self._idle is not None:
            self._idle.stop()
        self._lost = True
        if self._counted and self.institution is not None:
            self._leave(self.institution.name)
            self._counted = False
        if self.institution is not None:
            self.log.info("connection closed", extra={
                "institution": self.institution.name, "error": str(exc) if exc else None})
        self._on_lost(self)

    def close(self) -> None:
        """Close this connection (its sessions end; unfinished uploads are discarded)."""
        if self._conn is not None:
            self._conn.close()

    def shut_out(self, reason: str) -> None:
        """Disconnect before login, telling the client ``reason``."""
        if self._conn is not None:
            self._conn.disconnect(asyncssh.DISC_HOST_NOT_ALLOWED_TO_CONNECT, reason)

    def touch(self) -> None:
        """The client made an SFTP request: the connection is not idle."""
        if self._idle is not None:
            self._idle.touch()

    def begin_auth(self, username: str) -> bool:
        """Always require authentication; the client has announced its version by now."""
        if "client_version" not in self.fields and self._conn is not None:
            version = self._conn.get_extra_info("client_version")
            self.fields["client_version"] = shown(str(version)) if version else None
        return True

    def password_auth_supported(self) -> bool:
        """Passwords are accepted for institutions that have a password hash."""
        return True

    def public_key_auth_supported(self) -> bool:
        """Keys are accepted for institutions that list authorized keys."""
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        """Check a password with argon2 on the password threads, in this username's turn.
        When the check cannot run for load, the client is told to try again and nothing
        counts as a failed login."""
        institution = self._guard.book.current.by_username.get(username)
        if institution is not None and not self._address_allowed(institution):
            return self._result(username, "password", None, "address not allowed")
        stored = institution.password_hash if institution else None
        try:
            ok = await self._guard.passwords.check(username, stored, password,
                                                   known=institution is not None)
        except OverloadedError:
            self._busy(username)
            return False
        return self._result(username, "password", institution if ok else None,
                            "bad password" if institution else UNKNOWN_USER)

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
                            "key not listed" if institution else UNKNOWN_USER)

    def auth_completed(self) -> None:
        """Admit the session unless the institution already has ``max_sessions`` live; an
        admitted one is closed after ``idle_timeout_seconds`` without an SFTP request.

        A cluster counts sessions in the store: that round trip runs off the event loop
        (a slow or unreachable database must not stall every other connection), so the SFTP
        session may start before the answer, and ends with the connection if refused."""
        institution = self._candidate
        assert institution is not None
        self._guard.arrivals.leave(self.peer, self)
        self.institution = institution
        self.log.info("login accepted", extra={"institution": institution.name})
        login_accepted(institution.name)
        executor = self._guard.sessions.executor
        if executor is None:
            self._admit(institution, self._count(institution))
            return
        self._admission = asyncio.get_running_loop().create_task(
            self._admit_later(institution, executor))

    async def _admit_later(self, institution: Institution, executor: Executor) -> None:
        try:
            counted = await asyncio.get_running_loop().run_in_executor(
                executor, self._count, institution)
        except Exception:  # a bug must not leave a session running uncounted
            self.log.exception("session refused: it could not be counted",
                               extra={"institution": institution.name})
            counted = None
        self._admit(institution, counted)

    def _count(self, institution: Institution) -> bool | None:
        """Count the session (True), or not at its limit (False); None when the count's
        store cannot be reached (logged)."""
        try:
            return self._guard.sessions.enter(institution.name,
                                              institution.intake.max_sessions)
        except StoreUnavailable as error:
            self.log.error("session refused: sessions cannot be counted", extra={
                "institution": institution.name, "error": str(error)})
            return None

    def _admit(self, institution: Institution, counted: bool | None) -> None:
        """Go on with a counted session, or disconnect with the reason."""
        assert self._conn is not None
        if self._lost:  # the client left while it was being counted: uncount, no more
            if counted:
                self._uncount(institution.name)
            return
        if counted is None:
            self._conn.disconnect(asyncssh.DISC_SERVICE_NOT_AVAILABLE,
                                  "the gateway cannot reach its database right now; nothing "
                                  "can be received, try again in a few minutes")
            return
        limit = institution.intake.max_sessions
        if not counted:
            self.log.warning("session refused: too many sessions", extra={
                "institution": institution.name, "max_sessions": limit})
            self._conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS,
                                  f"{institution.username} already has {limit} sessions open "
                                  "(max_sessions); close one and try again")
            return
        self._counted = True
        session_opened(institution.name)
        self._idle = IdleWatch(institution.intake.idle_timeout_seconds, self._close_idle)

    def _leave(self, institution: str) -> None:
        """An admitted session ended."""
        session_closed(institution)
        self._uncount(institution)

    def _uncount(self, institution: str) -> None:
        """Take a counted session off the count: on the count's own threads when it is in
        the store."""
        sessions = self._guard.sessions
        if sessions.executor is None:
            sessions.leave(institution)
        else:
            asyncio.get_running_loop().run_in_executor(sessions.executor, sessions.leave,
                                                       institution)

    def _close_idle(self) -> None:
        assert self.institution is not None
        self.log.warning("idle session closed", extra={
            "institution": self.institution.name,
            "idle_seconds": self.institution.intake.idle_timeout_seconds})
        self.close()

    def _address_allowed(self, institution: Institution) -> bool:
        nets = institution.allowed_networks
        return not nets or address_in(self.peer, nets)

    def _busy(self, username: str) -> None:
        """Too many password checks wait: refuse this one without judging the password."""
        self.log.warning("password check refused: too many checks waiting",
                         extra={"username": shown(username)})
        SFTP_PASSWORD_CHECKS_REFUSED.inc()
        if self._conn is not None:
            self._conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS,
                                  "the gateway is busy checking passwords; try again in a "
                                  "few seconds")

    def _result(self, username: str, method: str, institution: Institution | None,
                why: str) -> bool:
        """Note ``institution`` for admission (True), or log the refusal (event ``login
        refused``, ``reason`` ``why``), count it toward a ban and the connection's tries."""
        if institution is not None:
            self._candidate = institution  # admitted in auth_completed, once auth succeeds
            return True
        self._failures += 1
        self.log.warning("login refused", extra={"username": shown(username), "method": method,
                                                 "reason": why})
        login_refused(method)
        ban = self._guard.bans.failed(self.peer)
        if ban:
            self._banned(ban)
        elif self._failures >= self._guard.max_auth_tries and self._conn is not None:
            self._conn.disconnect(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                                  "too many authentication failures")
        return False

    def _banned(self, seconds: float) -> None:
        """This address is now banned: close every connection of it still logging in, this
        one included, so none opened before the ban can log in after it."""
        closed = self._guard.arrivals.shut_out(
            self.peer, "too many authentication failures from this address; try later")
        self.log.warning("address banned", extra={"seconds": round(seconds),
                                                  "connections_closed": closed})
        address_banned(seconds)
