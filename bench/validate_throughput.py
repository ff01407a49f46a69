"""Validation throughput: the gateway's validator against a bare ``csv.reader`` pass.

    python bench/validate_throughput.py [--rows 1000000,10000000] [--repeats 3] [--keep DIR]

Generates ``enrollments.csv`` and ``users.csv`` (whose ``sortable_name`` column is quoted on
every row: "Last, First") of each ``--rows`` count in a temporary directory, then for each
file runs ``--repeats`` interleaved pairs, each pass in a fresh Python process so its peak
RSS is its own: a bare ``csv.reader`` loop over the decoded file, and ``validate_file``
(what ``gateway validate`` and the sorter run: Canvas's row rules, id digests, duplicate
detection).  Prints the medians of rows/s of both, their ratio, the validator's largest
peak RSS (``ru_maxrss`` of the child) and its import time, timed apart from its pass over
the rows (a fixed cost; csv.reader's module is builtin).  The machine may be shared: the
ratio of interleaved runs is the figure that matters.

The data look like an SIS export: users with names and emails; enrollments grouped by
section (a teacher and 30 students each, two sections per course), the people drawn at
random from a fifth as many users, dates on every row.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_users(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("user_id,login_id,first_name,last_name,sortable_name,email,status\n")
        for number in range(rows):
            out.write(f"U{number:07d},login{number},First{number},Last{number},"
                      f'"Last{number}, First{number}",user{number}@example.edu,active\n')


def write_enrollments(path: Path, rows: int) -> None:
    chooser = random.Random(4)
    people = max(1, rows // 5)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("course_id,section_id,user_id,role,status,start_date,end_date\n")
        written = section = 0
        while written < rows:
            course = f"C{section // 2:06d}"
            seats = min(31, rows - written)
            for seat, user in enumerate(chooser.sample(range(people), min(seats, people))):
                role = "teacher" if seat == 0 else "student"
                out.write(f"{course},S{section:06d},U{user:07d},{role},active,"
                          "2025-01-13T08:00:00Z,2025-05-16T23:59:00Z\n")
            written += min(31, rows - written)
            section += 1


def child(mode: str, path: str) -> None:
    """Run one pass in this process and print its figures as JSON."""
    # Each side's imports are timed apart from its pass over the rows: the validator's
    # (numpy, pydantic: a fixed cost, not one per row) would otherwise weigh on the smaller
    # files' rows/s while csv.reader's is builtin and free.
    loading = time.perf_counter()
    if mode == "csv":
        import csv

        started = time.perf_counter()
        with open(path, encoding="utf-8", newline="") as handle:
            rows = sum(1 for _ in csv.reader(handle)) - 1
    else:
        sys.path.insert(0, str(REPO))
        from gateway.sorting.validation import validate_file

        started = time.perf_counter()
        verdict = validate_file(Path(path), Path(path).name)
        assert verdict.rows is not None, verdict.findings
        rows = verdict.rows
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak,
                      "import_seconds": started - loading}))


def measure(mode: str, path: Path) -> dict[str, float]:
    result = subprocess.run([sys.executable, __file__, "--child", mode, str(path)],
                            capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(result.stdout)
    return figures


def compare(path: Path, rows: int, repeats: int) -> str:
    """One table line: medians of ``repeats`` interleaved (csv.reader, validator) pairs."""
    bare: list[float] = []
    ours: list[float] = []
    peaks: list[float] = []
    imports: list[float] = []
    for _ in range(repeats):
        figures = measure("csv", path)
        bare.append(figures["rows"] / figures["seconds"])
        figures = measure("validate", path)
        ours.append(figures["rows"] / figures["seconds"])
        peaks.append(figures["peak_mb"])
        imports.append(figures["import_seconds"])
    gateway, reader = statistics.median(ours), statistics.median(bare)
    return (f"{path.name:<28}{rows:>11,}{gateway:>18,.0f}{reader:>19,.0f}"
            f"{gateway / reader:>7.2f}{max(peaks):>13.0f}{statistics.median(imports):>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,10000000",
                        help="comma-separated row counts (default 1000000,10000000)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved pairs per file")
    parser.add_argument("--keep", type=Path, help="generate into (and keep) this directory")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    counts = [int(count) for count in args.rows.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"medians of {args.repeats} interleaved pairs; Python {sys.version.split()[0]}")
        print(f"{'file':<28}{'rows':>11}{'validator rows/s':>18}{'csv.reader rows/s':>19}"
              f"{'ratio':>7}{'peak RSS MB':>13}{'import s':>10}", flush=True)
        for writer, name in ((write_enrollments, "enrollments"), (write_users, "users")):
            for rows in counts:
                path = folder / f"{name}-{rows}.csv"
                if not path.exists():
                    writer(path, rows)
                print(compare(path, rows, args.repeats), flush=True)


if __name__ == "__main__":
    main()
