"""Canvas's token checks for the account routes (reference §3.1).

Order, as in Canvas: a token that matches no account is refused first (the token is loaded
before the controller runs), then the account must exist, then the caller must be logged in
and allowed on that account.  Each sandbox account accepts exactly one bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

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


def presented_token(request: Request) -> str | None:
    """The bearer token from the Authorization header, else the `access_token` parameter."""
    header = request.header("authorization")
    if header is not None:
        match = _BEARER.match(header)
        if match:
            return match.group(1)
    return request.query.get("access_token") or None


def authorize(request: Request, account_ref: str, accounts: Mapping[str, str]) -> str | Response:
    """Return the account id the request may use, or the Canvas refusal to send.

    `self` names the root account of the presented token (Canvas: the domain's root
    account); without a valid token it names the first configured account.
    """
    token = presented_token(request)
    owners = [account for account, accepted in accounts.items() if accepted == token]
    if token is not None and not owners:
        return json_response(401, INVALID_TOKEN_BODY, _WWW_AUTHENTICATE)
    account_id = _resolve(account_ref, owners, accounts)
    if account_id not in accounts:
        return not_found()
    if token is None:
        return json_response(401, UNAUTHENTICATED_BODY, _WWW_AUTHENTICATE)
    if accounts[account_id] != token:
        # Logged in, so Canvas sends no WWW-Authenticate here.
        return json_response(401, UNAUTHORIZED_BODY)
    return account_id


def _resolve(account_ref: str, owners: list[str], accounts: Mapping[str, str]) -> str:
    if account_ref != "self":
        return account_ref
    if owners:
        return owners[0]
    return next(iter(accounts), account_ref)
