"""`data` at each save point, for each way an import ends (statistics included)."""

from __future__ import annotations

from gateway.sandbox.batchdata import final_data, prepared_data
from gateway.sandbox.errorfile import SisError
from gateway.sandbox.processing import COUNT_KEYS
from gateway.sandbox.records import End, Outcome
from gateway.sandbox.statistics import RESTORE_ORDER, statistics_json

COUNTS = {**dict.fromkeys(COUNT_KEYS.values(), 0), "users": 2, "error_count": 0, "warning_count": 1}


def outcome(end: End = End.FINISHED, *, inline: bool = True) -> Outcome:
    return Outcome(
        ("user",),
        ("user",),
        dict(COUNTS),
        (SisError("u.csv", "w"),),
        running_immediately=inline,
        end=end,
        changes={"Course.created": 2, "Enrollment.deactivated": 1},
        error_message="boom" if end is End.RESCUED else None,
    )


def keys(end: End, *, inline: bool = True) -> list[str]:
    return list(final_data((4, 5), outcome(end, inline=inline)).to_json("instructure_csv"))


def test_statistics_are_zero_filled_in_restore_order() -> None:
    stats = statistics_json({"Course.created": 2, "Enrollment.deactivated": 1})
    assert list(stats) == ["total_state_changes", *RESTORE_ORDER]
    assert stats["total_state_changes"] == 3
    assert stats["Course"] == {"created": 2, "restored": 0, "concluded": 0, "deleted": 0}
    assert stats["Enrollment"] == {
        "created": 0, "restored": 0, "concluded": 0, "deactivated": 1, "deleted": 0,
    }  # fmt: skip
    assert stats["AccountUser"] == {"created": 0, "restored": 0, "deleted": 0}


def test_a_parallel_import_saves_its_prepared_data() -> None:
    data = prepared_data((4, 5), outcome(inline=False)).to_json("instructure_csv")
    assert data == {
        "import_type": "instructure_csv",
        "downloadable_attachment_ids": [4, 5],
        "supplied_batches": ["user"],
        "counts": dict.fromkeys(COUNT_KEYS.values(), 0),
        "running_immediately": False,
        "completed_importers": [],
    }


def test_final_data_per_end() -> None:
    full = [
        "import_type",
        "downloadable_attachment_ids",
        "supplied_batches",
        "counts",
        "running_immediately",
        "completed_importers",
        "statistics",
    ]
    assert keys(End.FINISHED) == full
    crash_keys = ["import_type", "downloadable_attachment_ids", "counts", "statistics"]
    assert keys(End.CRASHED) == crash_keys
    # Reloaded before do_batch_end_work: an inline import had saved nothing of its own.
    assert keys(End.ABORTED) == ["import_type", "counts", "statistics"]
    assert keys(End.JOB_FAILED) == ["import_type", "counts", "statistics"]
    assert keys(End.ABORTED, inline=False) == full
    assert keys(End.RESCUED) == ["import_type", "error_message", "stack_trace"]
    rescued = final_data((4,), outcome(End.RESCUED, inline=False)).to_json("instructure_csv")
    assert rescued["downloadable_attachment_ids"] == [4]
    assert rescued["error_message"] == "boom"
    crashed = final_data((), outcome(End.CRASHED)).to_json("instructure_csv")
    assert crashed["counts"] == {"error_count": 0, "warning_count": 1}
