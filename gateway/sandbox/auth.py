"""Canvas's token checks (reference §3.1).

Order, as in Canvas: a token that matches no user is refused first (the token is loaded
before the controller runs), then the account must exist, then the caller must be logged in
and allowed on that account.  Every token belongs to one admin of one root account
(users.py).  `GET users/self` has its own order: it needs no login to reach the lookup, and
`self` without a user is simply not found (`api_find`: `self` is replaced only for a
logged-in user).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.sandbox.users import ApiUser, Directory
from gateway.sandbox.wire import Request, Response, json_response, not_found

_WWW_AUTHENTICATE = ("WWW-Authenticate", 'Bearer realm="canvas-lms"')
_BEARER = re.compile(r"\s*Bearer\s+(\S+)\s*\Z", re.IGNORECASE)

UNAUTHENTICATED_BODY = {
    "status": "unauthenticated",
    "errors": [{"message": "user authorization required"}],
}
INVALID_TOKEN_BODY = {"errors": [{"message": "Invalid access token."}]}
UNAUTHORIZED_BODY = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}


@dataclass(frozen=True)
class Caller:
    """Who made an authorized request, and on which root account."""

    account_id: str
    user: ApiUser


def presented_token(request: Request) -> str | None:
    """The bearer token from the Authorization header, else the `access_token` parameter."""
    header = request.header("authorization")
    if header is not None:
        match = _BEARER.match(header)
        if match:
            return match.group(1)
    return request.query.get("access_token") or None


def invalid_token() -> Response:
    """Canvas's 401 for a token it does not know."""
    return json_response(401, INVALID_TOKEN_BODY, _WWW_AUTHENTICATE)


def authorize(request: Request, account_ref: str, directory: Directory) -> Caller | Response:
    """Return the caller on the account, or the Canvas refusal to send.

    `self` names the root account of the presented token (Canvas: the domain's root
    account); without a valid token it names the first configured account.
    """
    token = presented_token(request)
    user = directory.user_for(token)
    if token is not None and user is None:
        return invalid_token()
    account_id = _resolve(account_ref, user, directory)
    if account_id not in directory.account_ids:
        return not_found()
    if user is None:
        return json_response(401, UNAUTHENTICATED_BODY, _WWW_AUTHENTICATE)
    if user.account_id != account_id:
        # Logged in, so Canvas sends no WWW-Authenticate here.
        return json_response(401, UNAUTHORIZED_BODY)
    return Caller(account_id, user)


def current_user(request: Request, directory: Directory) -> ApiUser | Response:
    """The user `users/self` names: 401 for an unknown token, 404 without one."""
    token = presented_token(request)
    user = directory.user_for(token)
    if token is not None and user is None:
        return invalid_token()
    return user if user is not None else not_found()


def _resolve(account_ref: str, user: ApiUser | None, directory: Directory) -> str:
    if account_ref != "self":
        return account_ref
    if user is not None:
        return user.account_id
    return next(iter(directory.account_ids), account_ref)
