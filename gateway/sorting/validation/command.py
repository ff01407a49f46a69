"""``gateway validate FILE_OR_ZIP_OR_DIR...``: the gateway's checks, offline, for SIS vendors.

The files named together are validated as one batch (a zip is a batch of its own); a
folder stands for the CSVs and zips directly in it.  Output is a table for people (long
cells wrap inside their column) or ``--json`` for machines; a progress line goes to stderr
for large files when stderr is a terminal.  Output piped into a reader that stops early
(``| head``) ends quietly.  Exit codes: 0 nothing blocks, 1 a finding blocks
(failure-class by default; see ``--block``), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from gateway.ops.help_text import RawPlainFormatter
from gateway.sorting.validation.batch import check_batch
from gateway.sorting.validation.findings import BlockingPolicy, Finding
from gateway.sorting.validation.uploads import UploadVerdict, csv_verdicts, validate_upload
from gateway.sorting.validation.verdicts import FileVerdict, ValidationOptions
from gateway.sorting.validation.zips import ZipVerdict

_PROGRESS_FROM = 8 << 20  # files smaller than this finish before a bar is worth drawing


def add_validate_parser(commands: Any) -> None:
    """Register ``validate`` on the ``gateway`` command's subparsers."""
    parser = commands.add_parser(
        "validate", help="check SIS CSVs and zips offline, as the gateway and Canvas would",
        description=__doc__, formatter_class=RawPlainFormatter)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE_OR_ZIP_OR_DIR",
                        help="CSV files, zips and folders of them; the CSVs named together "
                             "form one batch")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--zip-password-env", metavar="NAME",
                        help="environment variable holding the password of AES zips")
    parser.add_argument("--skip-deletes", action="store_true",
                        help="validate as for an import with skip_deletes")
    parser.add_argument("--custom-role", action="append", default=[], metavar="NAME",
                        help="a custom enrollment role name Canvas has (repeatable)")
    parser.add_argument("--block", action="append", default=[], metavar="CODE",
                        help="also block on this warning code (repeatable)")
    parser.add_argument("--block-warnings", action="store_true",
                        help="block on every warning")
    parser.set_defaults(handler=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    """Validate ``args.files`` as one batch, print the findings, return the exit code."""
    try:
        policy = BlockingPolicy.from_names(args.block, warnings=args.block_warnings)
        password = _password(args.zip_password_env)
        paths = uploads_named(args.files)
    except ValueError as error:
        print(f"gateway validate: {error}", file=sys.stderr)
        return 2
    options = ValidationOptions(skip_deletes=args.skip_deletes,
                                custom_roles=frozenset(args.custom_role))
    verdicts = [validate_upload(path, path.name, password=password, options=options,
                                on_progress=_progress(path, sys.stderr))
                for path in paths]
    batch = _batch_findings(verdicts)
    blocked = any(v.blocked(policy) for v in verdicts) or any(policy.blocks(f) for f in batch)
    text = json.dumps(_as_json(verdicts, batch, policy, blocked), indent=2) if args.json \
        else render_table(verdicts, batch, policy)
    _emit(text)
    return 1 if blocked else 0


def _emit(text: str) -> None:
    """Print ``text``; a reader that closed the pipe early (``| head``) is no error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would report the failed flush of stdout again at exit: point it at
        # /dev/null so the command ends quietly, with its exit code.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _password(variable: str | None) -> bytes | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise ValueError(f"--zip-password-env: ${variable} is not set")
    return value.encode()


def uploads_named(paths: Sequence[Path]) -> list[Path]:
    """The files to validate: each file named, and the CSVs and zips directly in each
    folder named (by name).  Raises ValueError for a path that is neither, or a folder
    without any."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file()
                            and p.suffix.lower() in (".csv", ".zip"))
            if not inside:
                raise ValueError(f"{path}: a folder without .csv or .zip files")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"{path}: no such file or folder")
    return found


def _batch_findings(verdicts: Sequence[UploadVerdict]) -> list[Finding]:
    """A zip is a batch of its own; the CSVs named together form one batch."""
    findings: list[Finding] = []
    loose = [v for v in verdicts if isinstance(v, FileVerdict)]
    findings += check_batch(loose)
    for verdict in verdicts:
        if isinstance(verdict, ZipVerdict):
            findings += check_batch(csv_verdicts(verdict))
    return findings


def _progress(path: Path, stream: TextIO) -> Callable[[int], None] | None:
    """A rich progress bar on stderr (bytes read, rate, time left), for large files on a
    terminal only; it ends on its own line once the whole file is read."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    size = path.stat().st_size
    if size < _PROGRESS_FROM or not stream.isatty():
        return None
    bar = Progress(TextColumn("validating {task.description}"), BarColumn(), DownloadColumn(),
                   TimeRemainingColumn(), console=Console(file=stream, force_terminal=True),
                   auto_refresh=False)  # drawn on each call: no thread of its own
    task = bar.add_task(path.name, total=size)
    bar.start()

    def show(done: int) -> None:
        bar.update(task, completed=min(done, size))
        bar.refresh()
        if done >= size:
            bar.stop()
    return show


def _rows(verdicts: Sequence[UploadVerdict], batch: Sequence[Finding],
          policy: BlockingPolicy) -> list[tuple[Finding, bool]]:
    found: list[tuple[Finding, bool]] = []
    for verdict in verdicts:
        files = csv_verdicts(verdict)
        if isinstance(verdict, ZipVerdict):
            found += [(f, policy.blocks(f)) for f in verdict.findings]
        for file in files:
            found += [(f, policy.blocks(f)) for f in file.findings]
    found += [(f, policy.blocks(f)) for f in batch]
    return found


def render_table(verdicts: Sequence[UploadVerdict], batch: Sequence[Finding],
                 policy: BlockingPolicy) -> str:
    """Findings as an aligned table (file, row, column, severity, message, fix) + summary."""
    lines = [_summary(file) for verdict in verdicts for file in csv_verdicts(verdict)]
    rows = [(f.file, str(f.row or ""), f.column or "",
             f.severity.value + (" (blocks)" if blocks else ""), f.message, f.fix)
            for f, blocks in _rows(verdicts, batch, policy)]
    if not rows:
        return "\n".join([*lines, "no findings"])
    header = ("FILE", "ROW", "COLUMN", "SEVERITY", "MESSAGE", "FIX")
    widths = [min(_CELL, max(len(r[i]) for r in [header, *rows])) for i in range(5)]
    table = [line for row in [header, *rows] for line in _table_lines(row, widths)]
    omitted = sum(f.omitted for v in verdicts for f in csv_verdicts(v))
    tail = [f"({counted(omitted, 'more finding')} not listed)"] if omitted else []
    return "\n".join([*lines, "", *table, *tail])


_CELL = 48  # widest column but the last; longer cells wrap within the column


def _table_lines(row: Sequence[str], widths: Sequence[int]) -> list[str]:
    """One table row as lines: cells wider than their column wrap, so every line keeps
    the columns in place (the last cell, the fix, is never cut)."""
    cells = [textwrap.wrap(cell, width, break_long_words=True, break_on_hyphens=False) or [""]
             for cell, width in zip(row[:-1], widths, strict=True)]
    height = max(len(cell) for cell in cells)
    lines = []
    for number in range(height):
        parts = [cell[number].ljust(width) if number < len(cell) else " " * width
                 for cell, width in zip(cells, widths, strict=True)]
        parts.append(row[-1] if number == 0 else "")
        lines.append("  ".join(parts).rstrip())
    return lines


def counted(number: int, noun: str) -> str:
    """``1 finding``, ``2 findings``: the number and the noun in its proper number."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _summary(file: FileVerdict) -> str:
    kind = file.kind.value if file.kind else "not imported"
    rows = counted(file.rows, "row") if file.rows is not None else "unread"
    return f"{file.name}: {kind}, {rows}, {counted(file.total, 'finding')}"


def _as_json(verdicts: Sequence[UploadVerdict], batch: Sequence[Finding],
             policy: BlockingPolicy, blocked: bool) -> dict[str, Any]:
    def finding(f: Finding) -> dict[str, Any]:
        return {"code": f.code.value, "file": f.file, "row": f.row, "column": f.column,
                "severity": f.severity.value, "message": f.message, "fix": f.fix,
                "blocking": policy.blocks(f)}

    def file(v: FileVerdict) -> dict[str, Any]:
        return {"name": v.name, "kind": v.kind.value if v.kind else None, "rows": v.rows,
                "blocked": v.blocked(policy), "counts": {c.value: n for c, n in v.counts.items()},
                "omitted": v.omitted, "findings": [finding(f) for f in v.findings]}

    def upload(v: UploadVerdict) -> dict[str, Any]:
        if isinstance(v, ZipVerdict):
            return {"name": v.name, "zip": True, "blocked": v.blocked(policy),
                    "findings": [finding(f) for f in v.findings],
                    "members": [file(m) for m in v.members]}
        return file(v)

    return {"blocked": blocked, "uploads": [upload(v) for v in verdicts],
            "batch": [finding(f) for f in batch]}
