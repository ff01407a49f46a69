"""Token lookup and Canvas's order of auth refusals, without a socket."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from gateway.sandbox.auth import Caller, authorize, current_user, presented_token
from gateway.sandbox.users import Directory, register
from gateway.sandbox.wire import Params, Request, Response


def directory() -> Directory:
    ids = itertools.count(1)
    made, _ = register(
        {"1": "one", "2": "two"}, {"other": "1"}, None, lambda: next(ids), datetime.now(UTC)
    )
    return made


ACCOUNTS = directory()


def request(authorization: str | None = None, query: str = "") -> Request:
    headers = {} if authorization is None else {"authorization": authorization}
    return Request("GET", "/", Params.from_query(query), headers, b"", "http://h")


def test_header_wins_over_query_and_scheme_is_case_insensitive() -> None:
    assert presented_token(request("Bearer one", "access_token=two")) == "one"
    assert presented_token(request("bearer  one ")) == "one"
    assert presented_token(request(None, "access_token=two")) == "two"
    assert presented_token(request("Basic Zm9vOmJhcg==")) is None


def status_of(result: Caller | Response) -> int | str:
    return result.status if isinstance(result, Response) else result.account_id


def test_refusal_order() -> None:
    # An unknown token is refused before the account is even looked up.
    assert status_of(authorize(request("Bearer nope"), "99", ACCOUNTS)) == 401
    assert status_of(authorize(request("Bearer one"), "99", ACCOUNTS)) == 404
    assert status_of(authorize(request(), "99", ACCOUNTS)) == 404
    assert status_of(authorize(request(), "1", ACCOUNTS)) == 401
    assert status_of(authorize(request("Bearer two"), "1", ACCOUNTS)) == 401
    assert status_of(authorize(request("Bearer one"), "1", ACCOUNTS)) == "1"


def test_self_is_the_token_owner() -> None:
    assert status_of(authorize(request("Bearer two"), "self", ACCOUNTS)) == "2"
    assert status_of(authorize(request(), "self", ACCOUNTS)) == 401


def test_other_users_are_admins_of_their_account() -> None:
    one = authorize(request("Bearer one"), "1", ACCOUNTS)
    other = authorize(request("Bearer other"), "1", ACCOUNTS)
    assert isinstance(one, Caller)
    assert isinstance(other, Caller)
    assert one.user.id != other.user.id
    assert status_of(authorize(request("Bearer other"), "2", ACCOUNTS)) == 401


def test_users_self_needs_no_login_to_be_not_found() -> None:
    found = current_user(request("Bearer two"), ACCOUNTS)
    assert not isinstance(found, Response)
    assert found.account_id == "2"
    missing = current_user(request(), ACCOUNTS)
    assert isinstance(missing, Response)
    assert missing.status == 404
    invalid = current_user(request("Bearer nope"), ACCOUNTS)
    assert isinstance(invalid, Response)
    assert invalid.status == 401
