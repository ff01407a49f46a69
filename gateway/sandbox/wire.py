"""Plain values for one HTTP exchange, so the API logic runs without sockets.

`Params` follows Rails conventions closely enough for the SIS API: a later value wins for a
plain key, and `key[]` pairs form a list read through the same name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Params:
    """Ordered request parameters (query string and/or form fields)."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_query(cls, query: str) -> Params:
        return cls(tuple(parse_qsl(query, keep_blank_values=True)))

    def get(self, key: str) -> str | None:
        """The last value given for `key` or `key[]`, or None when absent."""
        values = self.get_all(key)
        return values[-1] if values else None

    def get_all(self, key: str) -> list[str]:
        """Every value given for `key` or `key[]`, in order (Rails' `Array(params[key])`)."""
        names = {key, f"{key}[]"}
        return [value for name, value in self.pairs if name in names]

    def has(self, key: str) -> bool:
        """Whether the key was sent at all, even empty (Ruby truthiness of `params[key]`)."""
        return bool(self.get_all(key))

    def present(self, key: str) -> str | None:
        """The value when it is `present?` in Rails terms (not blank), else None."""
        value = self.get(key)
        return value if value is not None and value.strip() else None

    def merged_over(self, base: Params) -> Params:
        """These params layered over `base` (Rails: body params win over the query)."""
        return Params(base.pairs + self.pairs)

    def without(self, keys: Iterable[str]) -> Params:
        dropped = set(keys)
        return Params(tuple((k, v) for k, v in self.pairs if k not in dropped))


@dataclass(frozen=True)
class Request:
    """One HTTP request: header names are lower-cased, the body fully read."""

    method: str
    path: str
    query: Params
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    base_url: str  # scheme://host[:port] the client addressed, for Link headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Response:
    """One HTTP response, ready to be written.

    `reset` asks the HTTP shell to send nothing and reset the TCP connection instead (fault
    injection); the other fields are then ignored.
    """

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    reset: bool = False

    def with_headers(self, *extra: tuple[str, str]) -> Response:
        return replace(self, headers=self.headers + extra)


CONNECTION_RESET = Response(0, b"", reset=True)


def json_response(status: int, payload: Any, *headers: tuple[str, str]) -> Response:
    """A JSON response; Canvas answers compact UTF-8 JSON."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, JSON_TYPE, tuple(headers))


NOT_FOUND_BODY = {"errors": [{"message": "The specified resource does not exist."}]}


def not_found() -> Response:
    """Canvas's 404 for unknown routes, accounts and imports."""
    return json_response(404, NOT_FOUND_BODY)
