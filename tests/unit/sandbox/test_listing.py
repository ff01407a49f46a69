"""List filters, ordering and Link headers (§1.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.sandbox.listing import filter_imports, paginate, parse_time
from gateway.sandbox.records import ImportOptions, SisImportRecord, UploadedFile, WorkflowState
from gateway.sandbox.wire import Params

START = datetime(2026, 1, 1, tzinfo=UTC)
URL = "http://h/api/v1/accounts/1/sis_imports"


def make(count: int) -> list[SisImportRecord]:
    return [
        SisImportRecord(
            id=i,
            account_id="1",
            attachment_id=i,
            created_at=START + timedelta(minutes=i // 2),  # pairs share a created_at
            updated_at=START,
            workflow_state=WorkflowState.IMPORTED if i % 2 else WorkflowState.CREATED,
            options=ImportOptions(),
            upload=UploadedFile("a.csv", "text/csv", b""),
        )
        for i in range(1, count + 1)
    ]


def ids(records: list[SisImportRecord]) -> list[int]:
    return [record.id for record in records]


def test_parse_time() -> None:
    assert parse_time("2026-01-01T00:05:00Z") == START + timedelta(minutes=5)
    assert parse_time("2026-01-01T01:00:00+01:00") == START
    assert parse_time("2026-01-01T00:00:00") == START
    assert parse_time("yesterday") is None
    assert parse_time(None) is None


def test_newest_first_with_id_tiebreak() -> None:
    assert ids(filter_imports(make(5), Params())) == [5, 4, 3, 2, 1]


def test_created_filters_are_strict_and_unparseable_ones_ignored() -> None:
    records = make(5)  # created at minute 0,1,1,2,2
    since = Params((("created_since", "2026-01-01T00:01:00Z"),))
    assert ids(filter_imports(records, since)) == [5, 4]
    before = Params((("created_before", "2026-01-01T00:01:00Z"),))
    assert ids(filter_imports(records, before)) == [1]
    assert ids(filter_imports(records, Params((("created_since", "garbage"),)))) == [5, 4, 3, 2, 1]


def test_workflow_state_filter_drops_unknown_values() -> None:
    records = make(4)
    only_created = Params((("workflow_state[]", "created"), ("workflow_state[]", "bogus")))
    assert ids(filter_imports(records, only_created)) == [4, 2]
    assert ids(filter_imports(records, Params((("workflow_state[]", "bogus"),)))) == [4, 3, 2, 1]


def test_pagination_links_never_have_last() -> None:
    records = filter_imports(make(5), Params())
    first = paginate(records, Params((("per_page", "2"), ("workflow_state[]", "created"))), URL)
    assert ids(first.records) == [5, 4]
    assert first.link_header == ",".join(
        [
            f'<{URL}?workflow_state%5B%5D=created&page=1&per_page=2>; rel="current"',
            f'<{URL}?workflow_state%5B%5D=created&page=2&per_page=2>; rel="next"',
            f'<{URL}?workflow_state%5B%5D=created&page=1&per_page=2>; rel="first"',
        ]
    )
    last = paginate(records, Params((("per_page", "2"), ("page", "3"))), URL)
    assert ids(last.records) == [1]
    assert 'rel="next"' not in last.link_header
    assert f'<{URL}?page=2&per_page=2>; rel="prev"' in last.link_header
    assert 'rel="last"' not in last.link_header


def test_per_page_defaults_and_limits() -> None:
    records = filter_imports(make(120), Params())
    assert len(paginate(records, Params(), URL).records) == 10
    assert len(paginate(records, Params((("per_page", "500"),)), URL).records) == 100
    # Canvas clamps `per_page.to_i` to 1..100: text asks for one per page.
    assert len(paginate(records, Params((("per_page", "x"), ("page", "-1"))), URL).records) == 1
    assert len(paginate(records, Params((("per_page", "0"),)), URL).records) == 1
