"""POST sis_imports parameters → ImportOptions, in the order Canvas's controller applies them.

Two kinds of refusal exist (§1.3): the batch-mode term checks happen before the batch row is
saved (no import is created: 404 for a `batch_mode_term_id` that names no active term, 400
when batch mode has no term at all), while the multi-term and drop-status checks run inside
`create_with_attachment`'s block, after the row exists, and leave an `initializing` import
behind.  `OptionError.leaves_record` says which.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gateway.sandbox.records import ImportOptions
from gateway.sandbox.wire import NOT_FOUND_BODY, Params

IMPORT_TYPES = frozenset({"instructure_csv"})
ENROLLMENT_DROP_STATUSES = ("deleted", "completed", "inactive", "deleted_last_completed")
USER_REMOVE_STATUSES = ("deleted", "suspended")

_TRUE = frozenset({"yes", "true", "on", "1"})
_FALSE = frozenset({"no", "false", "off", "0", ""})
_LEADING_INTEGER = re.compile(r"\s*([+-]?\d+)")


class UnknownImportTypeError(ValueError):
    """Canvas raises on an unknown import_type, which the client sees as a server error."""


class OptionError(Exception):
    """A parameter Canvas refuses with a 400 and this JSON body."""

    def __init__(self, body: dict[str, Any], *, leaves_record: bool, status: int = 400) -> None:
        super().__init__(body)
        self.body = body
        self.leaves_record = leaves_record
        self.status = status


def ruby_to_i(value: str) -> int:
    """Ruby's String#to_i: the leading integer, 0 when there is none."""
    match = _LEADING_INTEGER.match(value)
    return int(match.group(1)) if match else 0


def value_to_boolean(value: str | None) -> bool:
    """Canvas's `value_to_boolean` (unrecognised strings fall back to `to_i != 0`)."""
    if value is None:
        return False
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return ruby_to_i(value) != 0


def integer_column(value: str | None) -> int | None:
    """ActiveRecord's integer cast of a string: nil when blank or not number-like."""
    if value is None or not _LEADING_INTEGER.match(value):
        return None
    return ruby_to_i(value)


def check_import_type(params: Params) -> str:
    """The import type (default instructure_csv).  Raises UnknownImportTypeError."""
    import_type = params.get("import_type") or "instructure_csv"
    if import_type not in IMPORT_TYPES:
        raise UnknownImportTypeError(import_type)
    return import_type


def batch_mode_term(params: Params, find_term: Callable[[str], int | None]) -> int | None:
    """The batch-mode term's Canvas id, checked before any import exists.

    `find_term` resolves a reference (`sis_term_id:<x>` or a Canvas id) among the account's
    active terms.  Raises OptionError: 404 when the given term is not found (Canvas's
    `api_find`), 400 when batch mode has no term and no multi-term mode.
    """
    if not value_to_boolean(params.get("batch_mode")):
        return None
    reference = params.present("batch_mode_term_id")
    term = None
    if reference is not None:
        term = find_term(reference)
        if term is None:
            raise OptionError(NOT_FOUND_BODY, leaves_record=False, status=404)
    if term is None and not params.has("multi_term_batch_mode"):
        raise OptionError(
            {"message": "Batch mode specified, but the given batch_mode_term_id cannot be found."},
            leaves_record=False,
        )
    return term


def _enum(params: Params, key: str, allowed: tuple[str, ...]) -> str | None:
    """`(Array(params[key]) & allowed).first`, with Canvas's 400 when nothing matches."""
    values = params.get_all(key)
    if not any(value.strip() for value in values):
        return None
    chosen = next((value for value in values if value in allowed), None)
    if chosen is None:
        raise OptionError({"message": f"Invalid {key}"}, leaves_record=True)
    return chosen


def _mode_options(params: Params, term: int | None, change_threshold: int | None) -> dict[str, Any]:
    """Canvas's if/elsif chain: batch term, else multi-term, else diffing."""
    if term is not None:
        return {"batch_mode": True, "batch_mode_term_id": term}
    if params.has("multi_term_batch_mode"):
        if change_threshold is None:
            raise OptionError(
                {"message": "change_threshold is required to use multi term_batch mode."},
                leaves_record=True,
            )
        multi = value_to_boolean(params.get("multi_term_batch_mode"))
        return {"batch_mode": True, "multi_term_batch_mode": multi}
    identifier = params.present("diffing_data_set_identifier")
    if identifier is not None:
        remaster = value_to_boolean(params.get("diffing_remaster_data_set"))
        return {"diffing_data_set_identifier": identifier, "diffing_remaster": remaster}
    return {}


def _stickiness(params: Params) -> dict[str, Any]:
    """add/clear are kept only together with override_sis_stickiness, and only when true."""
    if not value_to_boolean(params.get("override_sis_stickiness")):
        return {}
    options: dict[str, Any] = {"override_sis_stickiness": True}
    for key in ("add_sis_stickiness", "clear_sis_stickiness"):
        if value_to_boolean(params.get(key)):
            options[key] = True
    return options


def build_options(params: Params, import_type: str, term: int | None) -> ImportOptions:
    """The options Canvas stores on the new batch.  Raises OptionError (leaves_record)."""
    change_threshold = integer_column(params.get("change_threshold"))
    row_threshold = ruby_to_i(params.get("diff_row_count_threshold") or "")
    options: dict[str, Any] = {
        "import_type": import_type,
        "change_threshold": change_threshold,
        "diff_row_count_threshold": row_threshold if row_threshold > 0 else None,
    }
    options.update(_mode_options(params, term, change_threshold))
    options["skip_deletes"] = value_to_boolean(params.get("skip_deletes"))
    options["update_sis_id_if_login_claimed"] = value_to_boolean(
        params.get("update_sis_id_if_login_claimed")
    )
    options.update(_stickiness(params))
    options["diffing_drop_status"] = _enum(params, "diffing_drop_status", ENROLLMENT_DROP_STATUSES)
    options["diffing_user_remove_status"] = _enum(
        params, "diffing_user_remove_status", USER_REMOVE_STATUSES
    )
    options["batch_mode_enrollment_drop_status"] = _enum(
        params, "batch_mode_enrollment_drop_status", ENROLLMENT_DROP_STATUSES
    )
    return ImportOptions(**options)
