"""The "never twice" judgement, fed with SIS imports in the shapes canvas-lms really gives.

Canvas shows no uploaded file name: while an import is `created` it has `user`, times,
options and `data == {"import_type": "instructure_csv"}` only; `csv_attachments` (the CSVs
extracted from the zip, named by member) appear once processing has begun, and for small
imports only at the end (lib/api/v1/sis_import.rb, lib/sis/csv/import_refactored.rb).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.forwarding.reconcile import Reading, Verdict, judge, later_imports, read_import
from gateway.sorting.identity import AttemptIdentity, attempt_prefix

US = 4001
SOMEONE_ELSE = 4002
T0 = 1_800_000_000.0  # when the attempt began (gateway clock)
SETTLES = T0 + 90.0
WAIT_UNTIL = T0 + 3600.0
IDENTITY = AttemptIdentity(15, 2, US, T0, {}, ("b000015-a2-users.csv",
                                               "b000015-a2-courses.csv"))


def canvas_import(import_id: int, *, state: str = "created", user: int | None = US,
                  created: float = T0 + 1, names: tuple[str, ...] = (),
                  batch_mode: bool | None = None, skip_deletes: bool = False) -> dict[str, Any]:
    """A SisImport as `SisBatch#as_json` + `sis_import_json` build it."""
    stamp = datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body: dict[str, Any] = {
        "id": import_id, "created_at": stamp, "updated_at": stamp,
        "started_at": None if state == "created" else stamp, "ended_at": None,
        "progress": 0, "workflow_state": state, "data": {"import_type": "instructure_csv"},
        "batch_mode": batch_mode, "batch_mode_term_id": None, "multi_term_batch_mode": None,
        "override_sis_stickiness": None, "add_sis_stickiness": None,
        "update_sis_id_if_login_claimed": False, "clear_sis_stickiness": None,
        "diffing_data_set_identifier": None, "diffing_remaster": None,
        "diffed_against_import_id": None, "diffing_drop_status": None,
        "diffing_user_remove_status": None, "skip_deletes": skip_deletes,
        "change_threshold": None, "diff_row_count_threshold": None,
    }
    if user is not None:
        body["user"] = {"id": user, "name": "SIS Gateway", "created_at": stamp,
                        "sortable_name": "Gateway, SIS", "short_name": "SIS Gateway",
                        "sis_user_id": None, "integration_id": None, "sis_import_id": None,
                        "login_id": "sis-gateway"}
    if names:
        body["csv_attachments"] = [{"id": 900 + i, "display_name": name, "filename": name,
                                    "size": 120, "content-type": "text/csv"}
                                   for i, name in enumerate(names)]
        body["data"]["downloadable_attachment_ids"] = [900 + i for i in range(len(names))]
    return body


def verdict(recent: list[dict[str, Any]], *, now: float = T0 + 5,
            known: set[int] | None = None) -> Verdict:
    return judge(recent, IDENTITY, known=known or set(), now=now, settles_at=SETTLES,
                 wait_until=WAIT_UNTIL, poll_seconds=2.0).verdict


def test_our_import_still_created_without_attachments_is_waited_for_then_held() -> None:
    ours = canvas_import(31)
    assert verdict([ours]) is Verdict.WAIT
    assert verdict([ours], now=SETTLES + 10) is Verdict.WAIT  # settled, but it may be ours
    assert verdict([ours], now=WAIT_UNTIL + 1) is Verdict.HOLD


def test_a_small_import_importing_without_names_is_still_waited_for() -> None:
    assert verdict([canvas_import(31, state="importing")], now=SETTLES + 1) is Verdict.WAIT


def test_our_processed_import_is_adopted_by_its_extracted_names() -> None:
    ours = canvas_import(31, state="imported", names=("b000015-a2-users_filtered.csv",
                                                      "b000015-a2-courses.csv"))
    result = judge([canvas_import(30, state="imported", names=("users.csv",)), ours],
                   IDENTITY, known=set(), now=T0 + 400, settles_at=SETTLES,
                   wait_until=WAIT_UNTIL, poll_seconds=2.0)
    assert result.verdict is Verdict.ADOPT
    assert result.adopted == ours
    assert result.duplicates == ()


def test_names_win_over_clocks() -> None:
    far = canvas_import(31, state="importing", created=T0 + 7200, names=("b000015-a2-users.csv",))
    assert verdict([far], now=T0 + 7300) is Verdict.ADOPT


def test_an_import_by_another_user_is_not_ours() -> None:
    theirs = canvas_import(40, user=SOMEONE_ELSE)
    assert read_import(theirs, IDENTITY, known=set()) \
        is Reading.OTHER_USER
    assert verdict([theirs], now=SETTLES) is Verdict.REPOST
    assert verdict([theirs], now=SETTLES - 1) is Verdict.WAIT


def test_a_foreign_import_by_the_same_user() -> None:
    started = canvas_import(41, state="importing", names=("enrollments.csv",))
    assert verdict([started], now=SETTLES) is Verdict.REPOST
    other_options = canvas_import(42, batch_mode=True)
    assert verdict([other_options], now=SETTLES) is Verdict.REPOST
    earlier = canvas_import(43, created=T0 - 900)
    assert verdict([earlier], now=SETTLES) is Verdict.REPOST
    not_started = canvas_import(44)  # same user, same options, in the window: may be ours
    assert verdict([not_started], now=SETTLES) is Verdict.WAIT


def test_an_import_still_initializing_may_be_ours_while_canvas_stores_the_zip() -> None:
    # create_with_attachment saves the row `initializing`, stores the zip, then `created`:
    # a slow store is what makes the POST time out.
    stuck = canvas_import(45, state="initializing")
    assert verdict([stuck], now=SETTLES + 600) is Verdict.WAIT
    assert verdict([stuck], now=WAIT_UNTIL + 1) is Verdict.HOLD


def test_our_names_are_ours_whoever_posted_them() -> None:
    # e.g. an operator uploaded the spooled zip through Canvas's page while the batch held.
    by_hand = canvas_import(47, user=SOMEONE_ELSE, state="imported",
                            names=("b000015-a2-users.csv",))
    assert verdict([by_hand], now=SETTLES) is Verdict.ADOPT


def test_an_import_that_ended_without_files_cannot_be_told_apart() -> None:
    assert verdict([canvas_import(46, state="failed")], now=SETTLES) is Verdict.HOLD


def test_a_second_import_of_the_same_attempt_holds_and_names_both() -> None:
    names = ("b000015-a2-users.csv",)
    result = judge([canvas_import(50, state="imported", names=names),
                    canvas_import(51, state="importing", names=names)],
                   IDENTITY, known=set(), now=T0 + 60, settles_at=SETTLES,
                   wait_until=WAIT_UNTIL, poll_seconds=2.0)
    assert result.verdict is Verdict.HOLD
    assert result.duplicates == (50, 51)


def test_an_unrecorded_import_of_an_earlier_attempt_is_a_duplicate() -> None:
    earlier = canvas_import(52, state="imported", names=("b000015-a1-users.csv",))
    alone = judge([earlier], IDENTITY, known=set(), now=SETTLES, settles_at=SETTLES,
                  wait_until=WAIT_UNTIL, poll_seconds=2.0)
    assert (alone.verdict, alone.duplicates) == (Verdict.HOLD, (52,))
    ours = canvas_import(53, state="importing", names=("b000015-a2-users.csv",))
    both = judge([earlier, ours], IDENTITY, known=set(), now=SETTLES, settles_at=SETTLES,
                 wait_until=WAIT_UNTIL, poll_seconds=2.0)
    assert (both.verdict, both.duplicates) == (Verdict.ADOPT, (52,))
    assert verdict([earlier], known={52}, now=SETTLES) is Verdict.REPOST  # recorded: fine


def test_a_token_that_cannot_read_its_user_suspects_every_user() -> None:
    blind = AttemptIdentity(15, 2, None, T0, {}, IDENTITY.member_names)
    theirs = canvas_import(40, user=SOMEONE_ELSE)
    assert judge([theirs], blind, known=set(), now=SETTLES, settles_at=SETTLES,
                 wait_until=WAIT_UNTIL, poll_seconds=2.0).verdict is Verdict.WAIT


_NAMES = st.sampled_from([(), ("users.csv",), ("b000015-a2-users.csv",),
                          ("b000015-a1-users.csv",), ("b000016-a2-users.csv",)])
_IMPORTS = st.builds(
    canvas_import, st.integers(1, 60),
    state=st.sampled_from(["initializing", "created", "importing", "imported", "failed"]),
    user=st.sampled_from([US, SOMEONE_ELSE, None]),
    created=st.sampled_from([T0 - 1000, T0 + 1, SETTLES + 100]),
    names=_NAMES, batch_mode=st.sampled_from([None, True]))


def _could_be_ours(item: dict[str, Any]) -> bool:
    names = [a["filename"] for a in item.get("csv_attachments", [])]
    if names:
        return any(n.startswith(attempt_prefix(15, 2)) for n in names)
    if item.get("user", {}).get("id", US) != US:
        return False
    return not item["batch_mode"] and item["created_at"] != \
        canvas_import(0, created=T0 - 1000)["created_at"]


@given(st.lists(_IMPORTS, max_size=8, unique_by=lambda item: item["id"]),
       st.sampled_from([T0 + 5, SETTLES, WAIT_UNTIL + 1]))
def test_never_reposts_while_an_import_could_be_ours(recent: list[dict[str, Any]],
                                                     now: float) -> None:
    result = judge(recent, IDENTITY, known=set(), now=now, settles_at=SETTLES,
                   wait_until=WAIT_UNTIL, poll_seconds=2.0)
    if result.verdict is Verdict.REPOST:
        assert now >= SETTLES
        assert not any(_could_be_ours(item) for item in recent)
    if result.verdict is Verdict.ADOPT:
        assert result.adopted is not None
        assert any(a["filename"].startswith("b000015-a2-")
                   for a in result.adopted["csv_attachments"])


def test_the_window_is_placed_on_canvas_s_own_clock() -> None:
    # The gateway's clock is two hours behind Canvas's: Canvas's Date header anchors it.
    skewed = AttemptIdentity(15, 2, US, T0 - 7200, {}, IDENTITY.member_names,
                             canvas_started_at=T0)

    def reading(created: float) -> Reading:
        return read_import(canvas_import(31, created=created), skewed, known=set())

    assert reading(T0 + 1) is Reading.MAY_BE_OURS
    assert reading(T0 - 600) is Reading.OUTSIDE_WINDOW
    # Created late (a slow upload, a queued request): still waited for, never dismissed.
    assert reading(T0 + 90 + 600) is Reading.MAY_BE_OURS
    # Without Canvas's time the window starts on our (late) clock: nothing is excluded.
    assert read_import(canvas_import(31, created=T0 - 600),
                       AttemptIdentity(15, 2, US, T0 - 7200, {}, ()),
                       known=set()) is Reading.MAY_BE_OURS


def test_later_imports_at_the_end_duplicates_and_undecided() -> None:
    ours = canvas_import(60, state="imported", created=T0 + 1,
                         names=("b000015-a2-users.csv",))
    listed = [
        ours,
        canvas_import(61, state="imported", created=T0 + 2, names=("b000015-a1-users.csv",)),
        canvas_import(62, created=T0 + 3),  # same user, nothing shown yet: undecided
        canvas_import(63, created=T0 + 3, user=SOMEONE_ELSE),
        canvas_import(64, state="importing", created=T0 + 3, names=("terms.csv",)),
        canvas_import(65, created=T0 + 4, batch_mode=True),
        canvas_import(66, created=T0 + 4),  # recorded: another batch of this gateway
    ]
    assert later_imports(listed, IDENTITY, known={66}, ours=ours) == ((61,), (62,))
