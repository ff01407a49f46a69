"""A larger crash storm than the suite's: prints kills, acknowledged uploads, lost,
duplicated, reordered and held (see tests/integration/storm.py for what it does).

    python bench/storm.py [--uploads 1500] [--kills 200] [--seed 3]

Needs the test extra installed (paramiko, the sandbox); takes about 10 minutes at defaults.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.storm import StormPlan, run_storm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=1500)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="storm-") as root:
        result = run_storm(StormPlan(uploads=args.uploads, kills=args.kills, seed=args.seed),
                           Path(root))
    print(result.summary())
    for label, items in (("lost", result.lost), ("duplicated", result.duplicated),
                         ("reordered", result.reordered), ("held", result.held)):
        if items:
            print(f"{label}: {items[:20]}")
    return 0 if not (result.lost or result.duplicated or result.reordered or result.held) \
        else 1


if __name__ == "__main__":
    sys.exit(main())
