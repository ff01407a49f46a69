"""The crash storm at CI size: 50 SIGKILLs over 300 acknowledged uploads in 3 institutions
sharing one Canvas account, with 5xx-after-create, resets after create and before reading.
(bench/storm.py runs a larger one and prints its figures.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.storm import StormPlan, run_storm


# Restart-bound, not sorter-bound: each kill costs the daemon's Python start (about 2.3 s
# before its first log line on the shared 2-core machine at load 5-6), and the CI size needs
# about 85 kills.  Measured at that load: main with one sorting worker 276 s, two workers
# 297 s (3.6 and 3.5 acknowledged uploads per kill): both brushed the global 300 s limit.
@pytest.mark.timeout(600)
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
