"""The sandbox's API users and root accounts, and their Canvas JSON.

Every bearer token belongs to one Canvas user, an admin of one root account:

- each account's own token (`CanvasSandbox(accounts=...)`) belongs to the account's
  integration user, whose id is tied to the account, not to the token, so the daemon's
  random per-start token still creates imports as the same user;
- `other_users` adds tokens of other admins of the same account (imports "by another user").

User ids are handed out once and kept (with a data dir, across restarts: store.py saves
them).  JSON shapes (lib/api/v1/user.rb `user_json`, lib/api/v1/account.rb `account_json`),
as an account admin sees them:

- `user` of a SIS import: user_json with no includes: id, name, created_at, sortable_name,
  short_name, sis_user_id, integration_id, sis_import_id, login_id;
- `GET users/self` (UsersController#api_show) adds first_name, last_name, email, locale,
  effective_locale and permissions;
- `GET accounts/:id` of a root account, for a user with :manage: id, name, workflow_state,
  parent_account_id, root_account_id (null for a root account), uuid, the three storage
  quotas and default_time_zone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

_OTHER_FIRST_NAMES = ("Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan")


@dataclass(frozen=True)
class ApiUser:
    """One Canvas user that owns API tokens: an admin of `account_id`."""

    id: int
    account_id: str
    first_name: str
    last_name: str
    login_id: str
    created_at: datetime

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def sortable_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"


def user_key(account_id: str, token: str | None) -> str:
    """The stable identity a user id is kept under: the account's integration user, or
    another admin by (a digest of) its token, so no token is ever written to disk."""
    if token is None:
        return f"account:{account_id}"
    return "token:" + hashlib.sha256(token.encode()).hexdigest()


def new_user(user_id: int, account_id: str, ordinal: int, now: datetime) -> ApiUser:
    """A user's name and login: ordinal 0 is the account's integration user."""
    if ordinal == 0:
        first, last = "SIS", "Integration"
    else:
        first = _OTHER_FIRST_NAMES[(ordinal - 1) % len(_OTHER_FIRST_NAMES)]
        last = "Admin" if ordinal <= len(_OTHER_FIRST_NAMES) else f"Admin{ordinal}"
    login = f"{first}.{last}".lower() + f"+{account_id}@sandbox.invalid"
    return ApiUser(user_id, account_id, first, last, login, now.astimezone(UTC))


class Directory:
    """Who a token is: token → user, and every user ever known by id."""

    def __init__(
        self, account_ids: list[str], tokens: Mapping[str, ApiUser], users: Mapping[int, ApiUser]
    ) -> None:
        self._account_ids = list(account_ids)
        self._tokens = dict(tokens)
        self._users = dict(users)

    @property
    def account_ids(self) -> list[str]:
        """The root accounts, in configuration order."""
        return list(self._account_ids)

    def user_for(self, token: str | None) -> ApiUser | None:
        """The user a token belongs to, or None."""
        return self._tokens.get(token) if token is not None else None

    def user(self, user_id: int | None) -> ApiUser | None:
        """A known user by id (also users whose token is no longer configured)."""
        return self._users.get(user_id) if user_id is not None else None


def register(
    account_tokens: Mapping[str, str],
    other_users: Mapping[str, str],
    saved: Mapping[str, Any] | None,
    take_id: Callable[[], int],
    now: datetime,
) -> tuple[Directory, dict[str, Any]]:
    """The directory for this configuration, and the users to save.

    `saved` is the previous run's result (None: first run); known users keep their ids,
    new ones get ids from `take_id`.  Raises ValueError for an `other_users` token that is
    also an account's token or names an unknown account.
    """
    known = {key: _user_from_doc(doc) for key, doc in (saved or {}).items()}
    tokens: dict[str, ApiUser] = {}
    for account_id, token in account_tokens.items():
        key = user_key(account_id, None)
        tokens[token] = _known_or_new(known, key, account_id, 0, take_id=take_id, now=now)
    for token, account_id in other_users.items():
        if token in tokens or account_id not in account_tokens:
            raise ValueError("other_users: each token must be new and name a configured account")
        key = user_key(account_id, token)
        # The account's users so far (its integration user included) give the ordinal.
        ordinal = sum(1 for user in known.values() if user.account_id == account_id)
        tokens[token] = _known_or_new(known, key, account_id, ordinal, take_id=take_id, now=now)
    directory = Directory(list(account_tokens), tokens, {u.id: u for u in known.values()})
    return directory, {key: _user_doc(user) for key, user in known.items()}


def _known_or_new(
    known: dict[str, ApiUser],
    key: str,
    account_id: str,
    ordinal: int,
    *,
    take_id: Callable[[], int],
    now: datetime,
) -> ApiUser:
    if key not in known:
        known[key] = new_user(take_id(), account_id, ordinal, now)
    return known[key]


def _user_doc(user: ApiUser) -> dict[str, Any]:
    doc = asdict(user)
    doc["created_at"] = user.created_at.isoformat()
    return doc


def _user_from_doc(doc: Mapping[str, Any]) -> ApiUser:
    return ApiUser(**{**doc, "created_at": datetime.fromisoformat(doc["created_at"])})


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_json(user: ApiUser) -> dict[str, Any]:
    """`user_json(user, admin, session)` with no includes (a SIS import's `user`)."""
    return {
        "id": user.id,
        "name": user.name,
        "created_at": _iso(user.created_at),
        "sortable_name": user.sortable_name,
        "short_name": user.name,
        "sis_user_id": None,
        "integration_id": None,
        "sis_import_id": None,
        "login_id": user.login_id,
    }


def self_json(user: ApiUser) -> dict[str, Any]:
    """`GET /api/v1/users/self` for an account admin: api_show's forced includes."""
    body = user_json(user)
    body.update(
        {
            "last_name": user.last_name,
            "first_name": user.first_name,
            "email": user.login_id,
            "locale": None,
            "effective_locale": "en",
            "permissions": {
                "can_update_name": True,
                "can_update_avatar": False,
                "limit_parent_app_web_access": False,
            },
        }
    )
    return body


def account_json(account_id: str) -> dict[str, Any]:
    """`GET /api/v1/accounts/:id` of a root account, seen by one of its admins."""
    uuid = hashlib.sha256(f"sandbox-account:{account_id}".encode()).hexdigest()[:40]
    return {
        "id": int(account_id) if account_id.isdigit() else account_id,
        "name": f"Sandbox Account {account_id}",
        "workflow_state": "active",
        "parent_account_id": None,
        "root_account_id": None,
        "uuid": uuid,
        "default_storage_quota_mb": 500,
        "default_user_storage_quota_mb": 50,
        "default_group_storage_quota_mb": 50,
        "default_time_zone": "Etc/UTC",
    }
