"""The "never twice" judgement: what became of a POST attempt whose answer was lost.

Pure: Canvas's list of recent imports, the attempt's identity and the clock in; a verdict and
its evidence out.  The evidence is only what canvas-lms really shows of an import
(`lib/api/v1/sis_import.rb`, `app/models/sis_batch.rb` `as_json`): `user`, `created_at`,
`workflow_state`, the options, and, once processing has begun, `csv_attachments` named after
the zip's members (see gateway.sorting.identity).  Each import in the list is *read* as one
of :class:`Reading`; then:

- exactly one import carries this attempt's member names: **adopt** it;
- two carry them, or one carries another attempt's names that the gateway never recorded,
  or one could be ours but ended without showing any file: **hold**, duplicates named;
- one could be ours but has not shown its files yet (still ``initializing`` or ``created``,
  or a small import still ``importing``: Canvas saves their file list only at the end):
  **wait** for it, up to ``wait_until``, then hold;
- nothing could be ours: **wait** until ``settles_at`` (after it no import of the attempt can
  still appear), then **repost**.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from gateway.forwarding.canvas import TERMINAL_STATES
from gateway.sorting.identity import AttemptIdentity, attempt_of

CLOCK_SKEW_SECONDS = 300.0
"""How far Canvas's clock may be from ours, when Canvas's own time is not known."""
SERVER_CLOCKS_SECONDS = 60.0
"""How far apart Canvas's servers' clocks may be, when the window is in Canvas's own time
(the ``Date`` of the answer just before the POST): whole seconds, several app servers."""



class Verdict(Enum):
    """What to do about a POST whose answer was lost."""

    ADOPT = "adopt"  # Canvas has it: follow that import
    WAIT = "wait"  # Canvas may still show it: look again later
    REPOST = "repost"  # no import of the attempt exists or can still appear: send again
    HOLD = "hold"  # uncertain, or a duplicate exists: an operator must look


class Reading(StrEnum):
    """How one import in Canvas's list relates to the attempt."""

    OURS = "carries this attempt's file names"
    EARLIER_ATTEMPT = "carries another attempt's file names of this batch"
    RECORDED = "followed by the gateway for another batch"
    OTHER_FILES = "its files are not this batch's"
    OTHER_USER = "created by another Canvas user"
    OUTSIDE_WINDOW = "created outside this attempt's time window"
    OTHER_OPTIONS = "posted with other options"
    MAY_BE_OURS = "may be ours: no files shown yet"
    UNIDENTIFIABLE = "may be ours: ended without showing any file"


@dataclass(frozen=True)
class Judgement:
    """A verdict with the evidence behind it.  ``adopted`` is the import to follow (ADOPT);
    ``duplicates`` the imports that carry this batch's names besides it (ops are alerted);
    ``check_at`` when to look again (WAIT)."""

    verdict: Verdict
    readings: tuple[tuple[int, Reading], ...]
    adopted: dict[str, Any] | None = None
    duplicates: tuple[int, ...] = ()
    check_at: float | None = None
    why: str = ""

    def evidence(self, now: float) -> dict[str, Any]:
        """The judgement as JSON, for the store and ``gateway show``."""
        return {"at": now, "verdict": self.verdict.value, "why": self.why,
                "imports": [{"id": import_id, "reading": str(reading)}
                            for import_id, reading in self.readings],
                "duplicates": list(self.duplicates)}


def attachment_names(item: Mapping[str, Any]) -> list[str]:
    """The file names Canvas shows for an import's extracted CSVs (none before processing)."""
    names = []
    for attachment in item.get("csv_attachments") or []:
        if isinstance(attachment, Mapping):
            names += [str(attachment[key]) for key in ("filename", "display_name")
                      if attachment.get(key)]
    return names


def read_import(item: Mapping[str, Any], identity: AttemptIdentity, *,
                known: set[int]) -> Reading:
    """How one listed import relates to the attempt (see :class:`Reading`)."""
    if item.get("id") in known:
        return Reading.RECORDED
    names = attachment_names(item)
    if names:
        # Names are certain evidence whoever posted the zip and whatever the clocks say.
        return _read_names(names, identity)
    user = item.get("user")
    user_id = user.get("id") if isinstance(user, Mapping) else None
    if identity.api_user_id is not None and user_id is not None \
            and user_id != identity.api_user_id:
        return Reading.OTHER_USER
    created = _timestamp(item.get("created_at"))
    if created is not None and created < window_start(identity):
        return Reading.OUTSIDE_WINDOW
    if not options_match(item, identity.options):
        return Reading.OTHER_OPTIONS
    if str(item.get("workflow_state")) in TERMINAL_STATES:
        return Reading.UNIDENTIFIABLE
    # `created`, `importing` (a small import shows its files only at its end) and
    # `initializing` (`create_with_attachment` stores the zip before the row is `created`).
    return Reading.MAY_BE_OURS


def window_start(identity: AttemptIdentity) -> float:
    """The earliest ``created_at``, on Canvas's clock, an import of the attempt can have:
    the attempt's start moved onto Canvas's clock when its time is known, less the spread
    of Canvas's servers' clocks; else our start less the clock skew we allow.  There is no
    upper end: a slow upload or a queued request can create the row late."""
    if identity.canvas_started_at is None:
        return identity.started_at - CLOCK_SKEW_SECONDS
    return identity.canvas_started_at - SERVER_CLOCKS_SECONDS


def _read_names(names: Sequence[str], identity: AttemptIdentity) -> Reading:
    if any(name.startswith(identity.prefix) for name in names):
        return Reading.OURS
    if any(attempt_of(name, identity.batch_id) is not None for name in names):
        return Reading.EARLIER_ATTEMPT
    return Reading.OTHER_FILES


def options_match(item: Mapping[str, Any], options: Mapping[str, str]) -> bool:
    """Whether Canvas's stored options fit what the attempt posted (the options Canvas
    echoes in `SisBatch#as_json`; batch mode wins over diffing there, as here)."""
    batch_mode = "batch_mode" in options
    identifier = None if batch_mode else options.get("diffing_data_set_identifier")
    expected = {"batch_mode": batch_mode,
                "diffing_data_set_identifier": identifier,
                "change_threshold": _int_or_none(options.get("change_threshold")),
                "skip_deletes": "skip_deletes" in options}
    shown = {"batch_mode": bool(item.get("batch_mode")),
             "diffing_data_set_identifier": item.get("diffing_data_set_identifier"),
             "change_threshold": _int_or_none(item.get("change_threshold")),
             "skip_deletes": bool(item.get("skip_deletes"))}
    # A key Canvas did not send tells nothing: only the ones it shows can differ.
    return all(shown[key] == value for key, value in expected.items() if key in item)


def judge(recent: Iterable[Mapping[str, Any]], identity: AttemptIdentity, *, known: set[int],
          now: float, settles_at: float, wait_until: float, poll_seconds: float) -> Judgement:
    """Decide from Canvas's imports created since the attempt began (module docstring)."""
    items = {int(item["id"]): item for item in recent if "id" in item}
    readings = tuple((import_id, read_import(item, identity, known=known))
                     for import_id, item in sorted(items.items()))
    ours = [i for i, reading in readings if reading is Reading.OURS]
    earlier = tuple(i for i, reading in readings if reading is Reading.EARLIER_ATTEMPT)
    pending = [i for i, reading in readings if reading is Reading.MAY_BE_OURS]
    unknown = [i for i, reading in readings if reading is Reading.UNIDENTIFIABLE]
    if len(ours) > 1:
        return Judgement(Verdict.HOLD, readings, duplicates=tuple(ours),
                         why=f"Canvas shows {len(ours)} imports of this attempt: "
                             f"{_ids(ours)}")
    if ours:
        return Judgement(Verdict.ADOPT, readings, adopted=dict(items[ours[0]]),
                         duplicates=earlier, why=f"Canvas import {ours[0]} carries this "
                                                 "attempt's file names")
    if earlier:
        return Judgement(Verdict.HOLD, readings, duplicates=earlier,
                         why=f"Canvas import {_ids(earlier)} carries an earlier attempt of "
                             "this batch that the gateway never recorded")
    if unknown:
        return Judgement(Verdict.HOLD, readings,
                         why=f"Canvas import {_ids(unknown)} could be this batch but ended "
                             "without showing its files")
    if pending:
        if now < wait_until:
            return Judgement(Verdict.WAIT, readings, check_at=now + poll_seconds,
                             why=f"waiting for Canvas import {_ids(pending)} to show its files")
        return Judgement(Verdict.HOLD, readings,
                         why=f"Canvas import {_ids(pending)} could be this batch and has not "
                             "shown its files in time")
    if now >= settles_at:
        return Judgement(Verdict.REPOST, readings,
                         why="no import of this attempt exists and none can still appear")
    return Judgement(Verdict.WAIT, readings, check_at=settles_at,
                     why="no import of this attempt yet; one could still appear")


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _int_or_none(value: object) -> int | None:
    try:
        return None if value is None or value == "" else int(str(value))
    except ValueError:
        return None


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def later_imports(recent: Iterable[Mapping[str, Any]], identity: AttemptIdentity, *,
                  known: set[int], ours: Mapping[str, Any]) -> tuple[tuple[int, ...],
                                                                       tuple[int, ...]]:
    """At the end of the batch's import ``ours``: (duplicates, undecided) among the imports
    listed since it was created.  Duplicates carry any attempt's names of this batch;
    undecided ones may still turn out to (same user, same options, created after ours, no
    files shown yet: Canvas runs them after ours, so their files show only later)."""
    duplicates, undecided = [], []
    ours_created = _timestamp(ours.get("created_at"))
    for item in recent:
        import_id = item.get("id")
        if import_id == ours.get("id") or import_id in known or not isinstance(import_id, int):
            continue
        names = attachment_names(item)
        if any(attempt_of(name, identity.batch_id) is not None for name in names):
            duplicates.append(import_id)
            continue
        created = _timestamp(item.get("created_at"))
        user = item.get("user")
        user_id = user.get("id") if isinstance(user, Mapping) else None
        if not names and str(item.get("workflow_state")) not in TERMINAL_STATES \
                and (identity.api_user_id is None or user_id in (None, identity.api_user_id)) \
                and (created is None or ours_created is None or created >= ours_created) \
                and options_match(item, identity.options):
            undecided.append(import_id)
    return tuple(sorted(duplicates)), tuple(sorted(undecided))
