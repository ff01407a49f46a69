"""`GET /api/v1/users/self` and `GET /api/v1/accounts/:id`: who the token is, and its account.

Clients call these first to check a token (canvasapi's `get_current_user()` and
`get_account(id)`).  Shapes: users.py; refusals: auth.py.
"""

from __future__ import annotations

from gateway.sandbox.auth import Caller, current_user
from gateway.sandbox.users import Directory, account_json, self_json
from gateway.sandbox.wire import Request, Response, json_response, not_found


def show_user(request: Request, directory: Directory, reference: str) -> Response:
    """The caller's user JSON for `self` or the caller's own id; 404 for another id (the
    sandbox shows no other users), 401/404 for a bad or missing token."""
    user = current_user(request, directory)
    if isinstance(user, Response):
        return user
    if reference not in ("self", str(user.id)):
        return not_found()
    return json_response(200, self_json(user))


def show_account(caller: Caller) -> Response:
    """The root account the caller administers."""
    return json_response(200, account_json(caller.account_id))
