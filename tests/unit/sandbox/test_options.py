"""POST options follow Canvas's controller: parsing, defaults, dependencies and 400s."""

from __future__ import annotations

import pytest

from gateway.sandbox.options import (
    OptionError,
    UnknownImportTypeError,
    batch_mode_term,
    build_options,
    check_import_type,
    integer_column,
    ruby_to_i,
    value_to_boolean,
)
from gateway.sandbox.wire import Params


def params(*pairs: tuple[str, str]) -> Params:
    return Params(pairs)


def term_ids(reference: str) -> int | None:
    return {"sis_term_id:FA": 42, "5": 5, "7": 7}.get(reference)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("YES", True),
        ("on", True),
        ("1", True),
        ("2", True),
        ("false", False),
        ("0", False),
        ("", False),
        ("off", False),
        ("maybe", False),
        (None, False),
    ],
)
def test_value_to_boolean(value: str | None, expected: bool) -> None:
    assert value_to_boolean(value) is expected


def test_ruby_integer_conversions() -> None:
    assert ruby_to_i(" 12abc") == 12
    assert ruby_to_i("abc") == 0
    assert integer_column("15") == 15
    assert integer_column("abc") is None
    assert integer_column(None) is None


def test_defaults() -> None:
    options = build_options(params(), "instructure_csv", None)
    assert options.skip_deletes is False
    assert options.update_sis_id_if_login_claimed is False
    assert options.batch_mode is None
    assert options.override_sis_stickiness is None
    assert options.change_threshold is None


def test_import_type_must_be_instructure_csv() -> None:
    assert check_import_type(params()) == "instructure_csv"
    with pytest.raises(UnknownImportTypeError):
        check_import_type(params(("import_type", "other")))


def test_stickiness_needs_override() -> None:
    dropped = build_options(params(("add_sis_stickiness", "1")), "instructure_csv", None)
    assert dropped.add_sis_stickiness is None
    kept = build_options(
        params(
            ("override_sis_stickiness", "true"),
            ("add_sis_stickiness", "1"),
            ("clear_sis_stickiness", "true"),
        ),
        "instructure_csv",
        None,
    )
    assert (kept.override_sis_stickiness, kept.add_sis_stickiness, kept.clear_sis_stickiness) == (
        True,
        True,
        True,
    )


def test_batch_mode_requires_a_term_unless_multi_term() -> None:
    with pytest.raises(OptionError) as refused:
        batch_mode_term(params(("batch_mode", "1")), term_ids)
    assert refused.value.leaves_record is False
    assert refused.value.body == {
        "message": "Batch mode specified, but the given batch_mode_term_id cannot be found."
    }
    given = params(("batch_mode", "true"), ("batch_mode_term_id", "sis_term_id:FA"))
    assert batch_mode_term(given, term_ids) == 42
    assert batch_mode_term(params(("batch_mode_term_id", "5")), term_ids) is None
    assert (
        batch_mode_term(params(("batch_mode", "1"), ("multi_term_batch_mode", "1")), term_ids)
        is None
    )


def test_batch_mode_term_that_does_not_resolve_is_404_and_creates_nothing() -> None:
    given = params(("batch_mode", "1"), ("batch_mode_term_id", "sis_term_id:NOPE"))
    with pytest.raises(OptionError) as refused:
        batch_mode_term(given, term_ids)
    assert refused.value.status == 404
    assert refused.value.leaves_record is False
    assert refused.value.body == {"errors": [{"message": "The specified resource does not exist."}]}


def test_batch_term_wins_over_diffing() -> None:
    given = params(
        ("batch_mode", "1"), ("batch_mode_term_id", "7"), ("diffing_data_set_identifier", "set")
    )
    options = build_options(given, "instructure_csv", 7)
    assert (options.batch_mode, options.batch_mode_term_id) == (True, 7)
    assert options.diffing_data_set_identifier is None


def test_multi_term_needs_change_threshold_and_leaves_a_record() -> None:
    with pytest.raises(OptionError) as refused:
        build_options(params(("multi_term_batch_mode", "1")), "instructure_csv", None)
    assert refused.value.leaves_record is True
    assert refused.value.body == {
        "message": "change_threshold is required to use multi term_batch mode."
    }
    options = build_options(
        params(("multi_term_batch_mode", "1"), ("change_threshold", "10")), "instructure_csv", None
    )
    assert (options.batch_mode, options.multi_term_batch_mode, options.change_threshold) == (
        True,
        True,
        10,
    )


def test_diffing_options() -> None:
    options = build_options(
        params(
            ("diffing_data_set_identifier", "nightly"),
            ("diffing_remaster_data_set", "true"),
            ("diffing_drop_status", "inactive"),
            ("diff_row_count_threshold", "0"),
        ),
        "instructure_csv",
        None,
    )
    assert options.diffing_data_set_identifier == "nightly"
    assert options.diffing_remaster is True
    assert options.diffing_drop_status == "inactive"
    assert options.diff_row_count_threshold is None


@pytest.mark.parametrize(
    "key",
    ["diffing_drop_status", "diffing_user_remove_status", "batch_mode_enrollment_drop_status"],
)
def test_invalid_status_options_are_400_after_the_record_exists(key: str) -> None:
    with pytest.raises(OptionError) as refused:
        build_options(params((key, "vanished")), "instructure_csv", None)
    assert refused.value.body == {"message": f"Invalid {key}"}
    assert refused.value.leaves_record is True


def test_array_form_takes_the_first_valid_value() -> None:
    given = params(("diffing_drop_status[]", "bogus"), ("diffing_drop_status[]", "completed"))
    assert build_options(given, "instructure_csv", None).diffing_drop_status == "completed"
