"""When a scheduled export is due: cron expressions read in the institution's time zone.

Pure: times in, times out.  Cron is read by cronsim (wall-clock semantics across daylight
saving changes, as cron itself: a 02:30 job on a spring-forward night runs at 03:00).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim


def next_slot(schedule: str, zone: str, after: float) -> float:
    """The first time strictly after ``after`` (a Unix time) that ``schedule`` fires in
    ``zone``, as a Unix time."""
    local = datetime.fromtimestamp(after, tz=UTC).astimezone(ZoneInfo(zone))
    return next(iter(CronSim(schedule, local))).timestamp()


def slot_name(at: float) -> str:
    """A schedule slot's key: its UTC time to the second (``cron:2026-12-02T07:00:00Z``)."""
    return "cron:" + datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
