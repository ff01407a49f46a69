"""Per-row checks that Canvas makes before touching its database, for the simulator.

The rules themselves live in ``gateway.sorting.validation`` (one source for the gateway's
validator and this simulator); this module gives the simulator its view of them: a row is
a mapping from lower-cased header name to its stripped value (`None` when blank), and the
answer is the warning message (the row is then not imported) or whether the row is
imported or skipped silently.  Checks that need Canvas's stored objects (unknown parent
account, missing course, role lookup, ...) are out of scope: the sandbox keeps no SIS
objects.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.sorting.kinds import SisKind
from gateway.sorting.validation.rulebook import check_row as canvas_check_row
from gateway.sorting.validation.rules import RowProblem, Verdict

Row = Mapping[str, str | None]
RowResult = Verdict | str  # a str is the warning message; the row is then not imported

__all__ = ["Row", "RowResult", "Verdict", "check_row"]


def check_row(kind: SisKind, row: Row, *, skip_deletes: bool) -> RowResult:
    """Return the row's warning message, or whether it is imported or silently skipped."""
    result = canvas_check_row(kind, row, skip_deletes=skip_deletes)
    return result.message if isinstance(result, RowProblem) else result
