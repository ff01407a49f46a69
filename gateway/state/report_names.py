"""The names a batch's reports take in the institution's SFTP ``/reports`` folder.

A batch has two reports: its *receipt* (formed, on its way to Canvas) and its *result*
(imported, failed, held or rejected).  Each is published as ``.txt``, ``.html`` and
``.json`` under ``<reference>.<stage><suffix>`` (``batch-000001.receipt.txt``,
``batch-000001.result.json``), so the result never overwrites the receipt.  Reports written
before the two were told apart are named ``<reference><suffix>``; they are still found (the
status page) and purged (retention).  Naming lives here, below reporting, so that ``show``
and retention spell it the same way as the notifier.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

__all__ = ["REPORT_SUFFIXES", "ReportStage", "all_report_names", "latest_report",
           "report_name"]


class ReportStage(StrEnum):
    """Which of a batch's two reports a file is."""

    RECEIPT = "receipt"
    RESULT = "result"


REPORT_SUFFIXES = (".txt", ".html", ".json")


def report_name(reference: str, stage: ReportStage, suffix: str) -> str:
    """The file name of one report part: ``batch-000001.result.txt``."""
    return f"{reference}.{stage.value}{suffix}"


def all_report_names(reference: str) -> list[str]:
    """Every name a batch's reports may have in ``/reports``: both stages and the name
    used before the stages (retention deletes them all)."""
    return [report_name(reference, stage, suffix)
            for stage in ReportStage for suffix in REPORT_SUFFIXES] + \
        [f"{reference}{suffix}" for suffix in REPORT_SUFFIXES]


def latest_report(published: Callable[[str], bool], reference: str, suffix: str = ".txt"
                  ) -> str | None:
    """The name of the newest of a batch's reports that ``published`` says exists: the
    result if written, else the receipt, else one from before the stages; None if none."""
    candidates = [report_name(reference, ReportStage.RESULT, suffix),
                  report_name(reference, ReportStage.RECEIPT, suffix),
                  f"{reference}{suffix}"]
    return next((name for name in candidates if published(name)), None)
