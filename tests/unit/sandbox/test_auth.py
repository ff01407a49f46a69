"""Token lookup and Canvas's order of auth refusals, without a socket."""

from __future__ import annotations

from gateway.sandbox.auth import authorize, presented_token
from gateway.sandbox.wire import Params, Request, Response

ACCOUNTS = {"1": "one", "2": "two"}


def request(authorization: str | None = None, query: str = "") -> Request:
    headers = {} if authorization is None else {"authorization": authorization}
    return Request("GET", "/", Params.from_query(query), headers, b"", "http://h")


def test_header_wins_over_query_and_scheme_is_case_insensitive() -> None:
    assert presented_token(request("Bearer one", "access_token=two")) == "one"
    assert presented_token(request("bearer  one ")) == "one"
    assert presented_token(request(None, "access_token=two")) == "two"
    assert presented_token(request("Basic Zm9vOmJhcg==")) is None


def status_of(result: str | Response) -> int | str:
    return result.status if isinstance(result, Response) else result


def test_refusal_order() -> None:
    # An unknown token is refused before the account is even looked up.
    assert status_of(authorize(request("Bearer nope"), "99", ACCOUNTS)) == 401
    assert status_of(authorize(request("Bearer one"), "99", ACCOUNTS)) == 404
    assert status_of(authorize(request(), "99", ACCOUNTS)) == 404
    assert status_of(authorize(request(), "1", ACCOUNTS)) == 401
    assert status_of(authorize(request("Bearer two"), "1", ACCOUNTS)) == 401
    assert status_of(authorize(request("Bearer one"), "1", ACCOUNTS)) == "1"


def test_self_is_the_token_owner() -> None:
    assert authorize(request("Bearer two"), "self", ACCOUNTS) == "2"
    assert status_of(authorize(request(), "self", ACCOUNTS)) == 401
