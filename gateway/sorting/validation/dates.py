"""Dates as Canvas reads them from SIS CSVs (reference §4.3).

Canvas parses courses', sections' and enrollments' dates with Ruby's `DateTime.parse` and
terms' with `Time.zone.parse`; ISO 8601 is what the documentation asks for.  Three outcomes
matter to a sender:

- ``VALID``: ISO 8601 (``2024-01-15``, ``2024-01-15T08:00:00Z``, ``2024-1-5 00:00:00-06:00``);
- ``INVALID``: Canvas rejects it (`Bad date format for ...`): a date-shaped value that is not
  a real date (month 13, 30 February);
- ``NO_DATE``: text with no digit at all: `DateTime.parse` rejects it, while terms'
  `Time.zone.parse` quietly reads it as no date (and Canvas clears the term's date);
- ``UNCERTAIN``: some other text; Ruby parses many forms (``Jan 5 2024``) and guesses at
  others, so the gateway warns that it is not ISO 8601 instead of predicting Canvas.
"""

from __future__ import annotations

import calendar
import re
from enum import Enum

_DATE = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_CACHE_LIMIT = 4096


class DateForm(Enum):
    VALID = "valid"
    INVALID = "invalid"
    NO_DATE = "no_date"
    UNCERTAIN = "uncertain"


_seen: dict[str, DateForm] = {}


def date_form(value: str) -> DateForm:
    """Classify a non-blank, stripped date value; memoised because exports repeat dates."""
    form = _seen.get(value)
    if form is None:
        if len(_seen) >= _CACHE_LIMIT:
            _seen.clear()
        form = _seen[value] = _classify(value)
    return form


def _classify(value: str) -> DateForm:
    match = _DATE.fullmatch(value)
    if match is None:
        return DateForm.UNCERTAIN if _DIGIT.search(value) else DateForm.NO_DATE
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return DateForm.INVALID
    hour, minute, second = (int(part) if part else 0 for part in match.group(4, 5, 6))
    if hour > 23 or minute > 59 or second > 60:  # Ruby allows a leap second
        return DateForm.INVALID
    return DateForm.VALID
