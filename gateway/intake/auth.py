"""SSH authentication: each institution logs in with its own username, by key or password.

Passwords are only ever compared against argon2id hashes; neither the password nor the hash
is logged.  Unknown users go through the same hashing work as known ones so that response
times do not reveal which usernames exist.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import asyncssh
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.institutions import Institution

log = logging.getLogger(__name__)

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("no such user")


@dataclass(frozen=True)
class Accounts:
    """The SFTP accounts in force, by username."""

    by_username: dict[str, Institution]

    @classmethod
    def of(cls, institutions: list[Institution]) -> Accounts:
        """Index institutions by their SFTP username."""
        return cls({institution.username: institution for institution in institutions})


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches the argon2 ``password_hash`` (None never matches)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


class GatewaySSHServer(asyncssh.SSHServer):
    """Authenticates one SSH connection against the institutions' accounts."""

    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts
        self._peer = "?"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Remember the peer address for log lines."""
        peer = conn.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else "?"

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
        """Check a password off the event loop (argon2 is deliberately slow)."""
        institution = self._accounts.by_username.get(username)
        stored = institution.password_hash if institution else None
        ok = await asyncio.to_thread(verify_password, stored, password)
        self._log_attempt(username, "password", ok)
        return ok

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Accept a key listed for the institution with this username."""
        institution = self._accounts.by_username.get(username)
        wanted = key.public_data
        ok = institution is not None and any(
            known.public_data == wanted for known in institution.authorized_keys)
        self._log_attempt(username, "publickey", ok)
        return ok

    def _log_attempt(self, username: str, method: str, ok: bool) -> None:
        extra: dict[str, Any] = {"username": username, "peer": self._peer, "method": method}
        if ok:
            log.info("login accepted", extra=extra)
        else:
            log.warning("login refused", extra=extra)
