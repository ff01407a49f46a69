"""The shape of Canvas's row rules, shared by the validator and the Canvas simulator.

Each SIS kind has one ``RowRule``: the columns it reads and two functions over the row's raw
(unstripped) values for those columns, in that order, ``""`` standing for a blank or absent
cell (Ruby's ``blank?``):

- ``check`` mirrors the ``add_*``/``process_*`` method of Canvas's importer: the same parse
  checks in the same order, returning the first failing message (Canvas then skips the row),
  else whether the row is imported or skipped silently (``skip_deletes``);
- ``advise`` (validator only) holds checks Canvas makes while importing a row it still keeps
  or that need no stored objects to predict: dates, roles, enumerations.  Its warnings do not
  stop the row.

Messages are Canvas's own text (from `lib/sis/*_importer.rb` and their specs) wherever Canvas
has one; the few checks with gateway wording say so in their rule module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from gateway.sorting.validation.dates import DateForm, date_form
from gateway.sorting.validation.findings import Code

Values = Sequence[str]


class Verdict(Enum):
    """What happens to a row that raised no warning."""

    IMPORT = "import"  # counted in data.counts
    SKIP = "skip"  # skipped silently (skip_deletes with a deleted status)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One row-level message: its code, Canvas's text, the column at fault and the fix."""

    code: Code
    message: str
    column: str | None
    fix: str


RowResult = Verdict | RowProblem
Check = Callable[[Values, bool], RowResult]
Advise = Callable[[Values, frozenset[str]], RowProblem | None]
Clean = Callable[[Sequence[Sequence[str]]], bool]
"""Given a block's values column by column (the rule's columns, in order): True only when
``check`` imports every row silently (or skips it under ``skip_deletes``) and ``advise``
has nothing to say, whatever the options.  False says nothing: the rows are checked one
by one."""


@dataclass(frozen=True)
class RowRule:
    """One kind's row rule; ``advise`` reads only ``advised`` columns (skipped when absent)."""

    columns: tuple[str, ...]
    check: Check
    advise: Advise | None = None
    advised: tuple[str, ...] = ()
    clean: Clean | None = None


def all_present(values: Sequence[str]) -> bool:
    """Every value is non-blank (C speed: ``all`` over the stripped values)."""
    return all(map(str.strip, values))


NUL_IN_ROW = RowProblem(
    Code.NUL_BYTE, "The row contains a NUL character, which Canvas's database refuses",
    None, "remove the NUL characters (0x00) from this row; they usually come from a UTF-16 "
          "export or binary data pasted into a field")


DELETED = re.compile(r"deleted", re.IGNORECASE)


def prefix(*alternatives: str) -> re.Pattern[str]:
    """Ruby's ``/\\Aa|\\Ab/i``: the value starts with one alternative (case-insensitive)."""
    return re.compile("|".join(alternatives), re.IGNORECASE)


def exact(*alternatives: str) -> re.Pattern[str]:
    """Ruby's ``/\\A(a|b)\\z/i`` (used with ``fullmatch``)."""
    return re.compile("|".join(alternatives), re.IGNORECASE)


def accepted_words(*words: str) -> frozenset[str]:
    """Exact spellings that certainly pass a status pattern: a set lookup skips the regex
    for the values nearly every row has."""
    return frozenset(form for word in words for form in (word, word.upper(), word.title()))


def after_checks(status: str, skip_deletes: bool) -> Verdict:
    """Canvas's ``return if @batch.skip_deletes? && status =~ /deleted/i`` (unanchored)."""
    if skip_deletes and DELETED.search(status):
        return Verdict.SKIP
    return Verdict.IMPORT


def missing(column: str, message: str) -> RowProblem:
    """A required value is blank."""
    return RowProblem(Code.MISSING_VALUE, message, column, f"fill in {column} on this row")


def improper_status(message: str, allowed: str, column: str = "status") -> RowProblem:
    """The status is not one Canvas accepts for this kind."""
    return RowProblem(Code.IMPROPER_STATUS, message, column, f"use {allowed}")


def invalid(column: str, message: str, allowed: str) -> RowProblem:
    """A value outside an enumeration or of the wrong form."""
    return RowProblem(Code.INVALID_VALUE, message, column, f"use {allowed}")


KNOWN_DATES: set[str] = set()  # raw values already found valid (exports repeat a few dates)
ISO_HINT = "write dates as ISO 8601, e.g. 2024-01-15 or 2024-01-15T08:00:00Z"


def clean_dates(values: Sequence[str]) -> bool:
    """Every value of a date column is blank or a valid ISO 8601 date (each distinct value
    is looked at once: exports repeat a few dates)."""
    for raw in set(values).difference(KNOWN_DATES):
        value = raw.strip()
        if value and date_form(value) is not DateForm.VALID:
            return False
        if len(KNOWN_DATES) < 4096:
            KNOWN_DATES.add(raw)
    return True


def date_problem(values: Values, columns: tuple[tuple[int, str], ...], bad: str, *,
                 allow_delete: bool = False, lenient: bool = False) -> RowProblem | None:
    """Canvas's ``Bad date format`` message (``bad``) for the first bad date column.

    ``columns`` pairs value positions with column names.  Text that is not ISO 8601 but may
    still parse in Ruby gets a gateway warning rather than a prediction; so does text with no
    date in it when ``lenient`` (terms: `Time.zone.parse` clears the date without a word).
    """
    for position, column in columns:
        raw = values[position]
        if not raw or raw in KNOWN_DATES:
            continue
        value = raw.strip()
        if not value or (allow_delete and value == "<delete>"):
            continue
        form = date_form(value)
        if form is DateForm.VALID and len(KNOWN_DATES) < 4096:
            KNOWN_DATES.add(raw)
        if form is DateForm.VALID:
            continue
        if form is DateForm.INVALID or (form is DateForm.NO_DATE and not lenient):
            return RowProblem(Code.BAD_DATE, bad, column, ISO_HINT)
        what = "has no date in it; Canvas will clear the date" if form is DateForm.NO_DATE \
            else "is not an ISO 8601 date"
        return RowProblem(Code.INVALID_VALUE, f'{column} "{value}" {what}', column, ISO_HINT)
    return None


def link_rule(ids: tuple[str, str], subject: str, statuses: re.Pattern[str], allowed: str, *,
              exact: bool = False) -> RowRule:
    """The rule of a row linking two ids under a status (cross-listing, group user, tag
    user): ``No <id> given for <subject>`` for each id, then ``Improper status "<s>" for
    <subject>`` (prefix match, or whole-value when ``exact``)."""
    matches = statuses.fullmatch if exact else statuses.match

    def check(values: Values, skip_deletes: bool) -> RowResult:
        for position, column in enumerate(ids):
            if not values[position].strip():
                return missing(column, f"No {column} given for {subject}")
        status = values[2].strip()
        if not matches(status):
            return improper_status(f'Improper status "{status}" for {subject}', allowed)
        return after_checks(status, skip_deletes)

    return RowRule((*ids, "status"), check)
