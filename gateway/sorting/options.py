"""The Canvas import options a delivery is posted with, and the mass-change guard (pure).

A delivery's options come from the folder it was uploaded into (``batch/<term>`` = full
batch mode for that term, ``diff/<identifier>`` = diffing mode) or, for plain ``/inbox``
uploads, from the institution's defaults.  Batch mode and diffing delete what a delivery
leaves out, so before such a batch goes out its row counts are compared with the last
successful delivery to the same term or data set that supplied each kind, just before it is
posted: a sharp drop (a truncated export) holds it for an operator rather than letting Canvas
delete half a term.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.sorting.config import ImportDefaults

BATCH_FOLDER = "batch/"
DIFF_FOLDER = "diff/"


def canvas_options(defaults: ImportDefaults, folder: str | None) -> dict[str, str]:
    """The POST parameters for a delivery from ``folder`` (None: plain /inbox)."""
    term, identifier = defaults.batch_mode_term, defaults.diffing_data_set_identifier
    if folder is not None and folder.startswith(BATCH_FOLDER):
        term, identifier = folder[len(BATCH_FOLDER):], None
    elif folder is not None and folder.startswith(DIFF_FOLDER):
        term, identifier = None, folder[len(DIFF_FOLDER):]
    options: dict[str, str] = {}
    if term is not None:
        # Canvas: batch mode wins over diffing when both are asked for; say only one.
        options.update(batch_mode="true", batch_mode_term_id=f"sis_term_id:{term}")
        _put(options, "batch_mode_enrollment_drop_status",
             defaults.batch_mode_enrollment_drop_status)
    elif identifier is not None:
        options["diffing_data_set_identifier"] = identifier
        _put(options, "diffing_drop_status", defaults.diffing_drop_status)
        _put(options, "diff_row_count_threshold", defaults.diff_row_count_threshold)
    if term is not None or identifier is not None:
        _put(options, "change_threshold", defaults.change_threshold)
    if defaults.override_sis_stickiness:
        # Canvas drops add/clear unless override is set; send them only together.
        options["override_sis_stickiness"] = "true"
        if defaults.add_sis_stickiness:
            options["add_sis_stickiness"] = "true"
        if defaults.clear_sis_stickiness:
            options["clear_sis_stickiness"] = "true"
    if defaults.skip_deletes:
        options["skip_deletes"] = "true"
    return options


def _put(options: dict[str, str], key: str, value: object) -> None:
    if value is not None:
        options[key] = str(value)


GUARD_PREFIX = "Mass-change guard: "
"""How the guard's hold reasons start (an operator's release acknowledges them)."""


def deletion_scope(options: Mapping[str, str]) -> str | None:
    """What Canvas deletes within under these options (a term, a diffing data set), or None
    when it deletes nothing the delivery leaves out."""
    if "batch_mode" in options:
        return "batch:" + options.get("batch_mode_term_id", "")
    if "diffing_data_set_identifier" in options:
        return "diff:" + options["diffing_data_set_identifier"]
    return None


def deletes_missing(options: Mapping[str, str]) -> bool:
    """True for options under which Canvas deletes what the delivery leaves out."""
    return deletion_scope(options) is not None


def baseline(scope: str, kinds: Iterable[str],
             earlier: Iterable[tuple[Mapping[str, str], Mapping[str, int]]]) -> dict[str, int]:
    """Per kind, its row count in the newest earlier success with the same deletion scope
    that supplied that kind (``earlier``: options and row counts, newest first)."""
    wanted = set(kinds)
    found: dict[str, int] = {}
    for options, counts in earlier:
        if deletion_scope(options) != scope:
            continue
        for kind in wanted & counts.keys():
            found.setdefault(kind, counts[kind])
        if found.keys() >= wanted:
            break
    return found


def mass_change(previous: Mapping[str, int], current: Mapping[str, int],
                max_drop_percent: float) -> str | None:
    """Why this delivery looks truncated next to the previous one, or None.

    Only kinds the delivery supplies count (Canvas cleans up only those).  A kind whose row
    count fell by more than ``max_drop_percent`` is named with both counts.
    """
    drops = []
    for kind, now in sorted(current.items()):
        before = previous.get(kind, 0)
        if before and now < before * (1 - max_drop_percent / 100):
            drops.append(f"{kind}: {now} rows, {before} last time "
                         f"(-{100 * (before - now) / before:.0f}%)")
    if not drops:
        return None
    return (GUARD_PREFIX + "row counts fell sharply since the last successful delivery to "
            "the same term or data set (" + "; ".join(drops) +
            f"; the limit is -{max_drop_percent:g}%). "
            "Canvas would delete what is missing. If the export is right, release the batch "
            "with `gateway release BATCH`; otherwise skip it and upload a complete export.")
