"""GET sis_imports: filters, ordering and Canvas pagination (§1.4), shared by the errors API
and the account reports index.

Canvas paginates the import list with `total_entries: nil`, so its Link header has
`current`, `next` (when another page exists), `prev` (after the first page) and `first`,
never `last`.  The errors API paginates a plain scope, which Canvas counts, so its Link
header also has `last` (`with_last=True`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar
from urllib.parse import urlencode

from gateway.sandbox.options import ruby_to_i
from gateway.sandbox.records import SisImportRecord, WorkflowState
from gateway.sandbox.wire import Params

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
# Canvas leaves these out of the query it copies into pagination links.
_NOT_COPIED = ("page", "per_page", "access_token", "api_key")


_Item = TypeVar("_Item")


@dataclass(frozen=True)
class Page(Generic[_Item]):
    """One page of results and the value of its Link header."""

    records: list[_Item]
    link_header: str


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time as UTC (naive means UTC, Canvas's default zone); None if unusable."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _states(params: Params) -> set[WorkflowState]:
    """Requested states; unknown ones are dropped (an empty result means no filter)."""
    known = {state.value for state in WorkflowState}
    return {WorkflowState(v) for v in params.get_all("workflow_state") if v in known}


def newest_first(records: Sequence[SisImportRecord]) -> list[SisImportRecord]:
    """Canvas's `order(created_at: :desc)`, ties broken by the newer id."""
    return sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)


def filter_imports(records: Sequence[SisImportRecord], params: Params) -> list[SisImportRecord]:
    """Apply created_since / created_before / workflow_state[] and order newest first."""
    since = parse_time(params.get("created_since"))
    before = parse_time(params.get("created_before"))
    states = _states(params)
    chosen = [
        record
        for record in records
        if (since is None or record.created_at > since)
        and (before is None or record.created_at < before)
        and (not states or record.workflow_state in states)
    ]
    return newest_first(chosen)


def _positive(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number > 0 else default


def _per_page(value: str | None) -> int:
    """`Api.per_page_for`: `(params[:per_page] || 10).to_i.clamp(1, 100)`, so a value that
    is not a number asks for 1 per page."""
    if value is None:
        return DEFAULT_PER_PAGE
    return min(max(ruby_to_i(value), 1), MAX_PER_PAGE)


def paginate(
    records: Sequence[_Item], params: Params, page_url: str, *, with_last: bool = False
) -> Page[_Item]:
    """Slice one page and build its Link header; `page_url` is the absolute list URL."""
    page = _positive(params.get("page"), 1)
    per_page = _per_page(params.get("per_page"))
    start = (page - 1) * per_page
    chunk = list(records[start : start + per_page])
    has_next = len(records) > start + per_page
    kept = params.without(_NOT_COPIED).pairs

    def link(number: int, rel: str) -> str:
        query = urlencode([*kept, ("page", str(number)), ("per_page", str(per_page))])
        return f'<{page_url}?{query}>; rel="{rel}"'

    links = [link(page, "current")]
    if has_next:
        links.append(link(page + 1, "next"))
    if page > 1:
        links.append(link(page - 1, "prev"))
    links.append(link(1, "first"))
    if with_last:
        links.append(link(max(1, math.ceil(len(records) / per_page)), "last"))
    return Page(chunk, ",".join(links))
