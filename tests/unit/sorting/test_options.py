"""Import options from folders and defaults; the mass-change guard."""

from __future__ import annotations

import pytest

from gateway.sorting.config import ImportDefaults
from gateway.sorting.options import (
    baseline,
    canvas_options,
    deletes_missing,
    deletion_scope,
    mass_change,
)


def test_plain_inbox_uses_the_institution_defaults() -> None:
    assert canvas_options(ImportDefaults(), None) == {}
    defaults = ImportDefaults(diffing_data_set_identifier="nightly", change_threshold=10,
                              diffing_drop_status="inactive", skip_deletes=True)
    assert canvas_options(defaults, None) == {
        "diffing_data_set_identifier": "nightly", "diffing_drop_status": "inactive",
        "change_threshold": "10", "skip_deletes": "true"}


def test_batch_folder_means_full_batch_mode_for_that_term_and_wins_over_diffing() -> None:
    defaults = ImportDefaults(diffing_data_set_identifier="nightly", change_threshold=5)
    assert canvas_options(defaults, "batch/2026-fall") == {
        "batch_mode": "true", "batch_mode_term_id": "sis_term_id:2026-fall",
        "change_threshold": "5"}


def test_diff_folder_means_diffing_with_that_identifier() -> None:
    assert canvas_options(ImportDefaults(batch_mode_term="T1"), "diff/sis-nightly") == {
        "diffing_data_set_identifier": "sis-nightly"}


def test_stickiness_add_and_clear_go_only_with_override() -> None:
    assert canvas_options(ImportDefaults(add_sis_stickiness=True), None) == {}
    both = ImportDefaults(override_sis_stickiness=True, add_sis_stickiness=True)
    assert canvas_options(both, None) == {"override_sis_stickiness": "true",
                                          "add_sis_stickiness": "true"}


@pytest.mark.parametrize(("options", "deletes"), [
    ({}, False), ({"skip_deletes": "true"}, False), ({"batch_mode": "true"}, True),
    ({"diffing_data_set_identifier": "x"}, True)])
def test_which_options_delete_what_is_missing(options: dict[str, str], deletes: bool) -> None:
    assert deletes_missing(options) is deletes


def test_mass_change_names_each_kind_that_fell_past_the_limit() -> None:
    previous = {"user": 1000, "enrollment": 5000, "course": 40}
    assert mass_change(previous, {"user": 990, "enrollment": 4100}, 20.0) is None
    why = mass_change(previous, {"user": 700, "enrollment": 3000, "section": 1}, 20.0)
    assert why is not None
    assert "enrollment: 3000 rows, 5000 last time (-40%)" in why
    assert "user: 700 rows, 1000 last time (-30%)" in why
    assert "course" not in why  # not supplied: Canvas deletes nothing of that kind
    assert "gateway release" in why
    assert mass_change({"user": 10}, {"user": 0}, 20.0) is not None  # header only


def test_deletion_scope_is_the_term_or_the_data_set() -> None:
    assert deletion_scope({}) is None
    assert deletion_scope({"batch_mode": "true", "batch_mode_term_id": "sis_term_id:T1",
                           "change_threshold": "5"}) == "batch:sis_term_id:T1"
    assert deletion_scope({"diffing_data_set_identifier": "n"}) == "diff:n"


def test_baseline_takes_each_kind_from_the_last_delivery_that_supplied_it() -> None:
    term = {"batch_mode": "true", "batch_mode_term_id": "sis_term_id:T1"}
    other_term = {"batch_mode": "true", "batch_mode_term_id": "sis_term_id:T2"}
    earlier = [  # newest first: today's people zip, another term, yesterday's courses zip
        ({**term, "change_threshold": "10"}, {"user": 500, "enrollment": 900}),
        (other_term, {"course": 1}),
        (term, {"course": 40, "section": 60}),
        (term, {"course": 45}),
    ]
    found = baseline("batch:sis_term_id:T1", ["course", "section", "user"], earlier)
    assert found == {"course": 40, "section": 60, "user": 500}
    # A courses export that lost most courses is caught although the newest success of
    # the term (the people zip) supplied no courses.
    assert mass_change(found, {"course": 10}, 20.0) is not None
