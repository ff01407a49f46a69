"""The crash storm at CI size: 50 SIGKILLs over 300 acknowledged uploads in 3 institutions
sharing one Canvas account, with 5xx-after-create, resets after create and before reading.
(bench/storm.py runs a larger one and prints its figures.)"""

from __future__ import annotations

from pathlib import Path

from tests.integration.storm import StormPlan, run_storm


def test_a_crash_storm_loses_doubles_and_reorders_nothing(tmp_path: Path) -> None:
    result = run_storm(StormPlan(uploads=300, kills=50, seed=11), tmp_path)
    print(result.summary())
    assert result.kills >= 50
    assert result.acknowledged >= 300
    assert result.faults_fired.get("errors", 0) > 0
    assert result.faults_fired.get("reset_after", 0) > 0
    assert result.lost == []
    assert result.duplicated == []
    assert result.reordered == []
    assert result.held == []
