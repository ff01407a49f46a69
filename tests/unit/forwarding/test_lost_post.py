"""The "never twice" rules for a POST whose answer was lost."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.forwarding.steps import Verdict, judge_lost_post

OURS = "alpha-batch-000007-1.zip"


def _import(import_id: int, filename: str | None, size: int = 100) -> dict[str, Any]:
    attachments = [] if filename is None else [{"filename": filename, "display_name": filename,
                                                "size": size}]
    return {"id": import_id, "csv_attachments": attachments}


def _judge(recent: list[dict[str, Any]], known: set[int] | None = None,
           settled: bool = True) -> Verdict:
    return judge_lost_post(recent, known=known or set(), filename=OURS, size=100,
                           settled=settled)[0]


def test_our_file_is_adopted() -> None:
    found = _import(9, OURS)
    assert judge_lost_post([_import(8, "x.zip"), found], known=set(), filename=OURS,
                           size=100, settled=False) == (Verdict.ADOPT, found)


def test_same_name_but_other_size_is_not_ours() -> None:
    assert _judge([_import(9, OURS, size=99)]) is Verdict.REPOST


def test_two_imports_with_our_file_need_an_operator() -> None:
    assert _judge([_import(9, OURS), _import(10, OURS)]) is Verdict.HOLD


def test_nothing_yet_waits_until_settled_then_reposts() -> None:
    assert _judge([], settled=False) is Verdict.WAIT
    assert _judge([], settled=True) is Verdict.REPOST
    assert _judge([_import(3, "vendor.zip")], settled=True) is Verdict.REPOST


def test_an_import_naming_no_file_that_we_did_not_record_holds() -> None:
    assert _judge([_import(11, None)]) is Verdict.HOLD
    assert _judge([_import(11, None)], known={11}) is Verdict.REPOST


@given(st.lists(st.tuples(st.integers(1, 50), st.sampled_from([None, "x.zip", OURS]),
                          st.sampled_from([99, 100])), max_size=8), st.booleans())
def test_never_reposts_when_an_import_could_be_ours(entries: list[tuple[int, str | None, int]],
                                                    settled: bool) -> None:
    recent = [_import(i, name, size) for i, name, size in entries]
    verdict = _judge(recent, settled=settled)
    could_be_ours = any(name is None or (name == OURS and size == 100)
                        for _, name, size in entries)
    if could_be_ours:
        assert verdict in (Verdict.ADOPT, Verdict.HOLD)
    if verdict is Verdict.REPOST:
        assert settled
