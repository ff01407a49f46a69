"""Fault plans for the sandbox: what goes wrong, how often, and for which requests.

A `Faults` value is a complete plan; setting a new one (`CanvasSandbox.faults = ...`,
`PUT /sandbox/faults`, CLI flags) replaces the old one and restarts its counters and random
streams.  Every fault kind fires for the next `count` matching requests (or imports), then
with probability `rate` for each later one.  With a `seed`, each kind draws from its own
seeded random stream, so the same sequence of requests meets the same faults every run.

Request faults (HTTP layer), optionally limited by `methods` and a `path` regex (searched in
the request path; `/sandbox/` control paths never get faults):

  latency       LatencyFault(seconds)           delay the request before it is handled
  reset_before  RequestFault                    TCP reset, request never handled
  maintenance   MaintenanceFault(status)        HTML maintenance page, 503 or 200
  errors        ErrorFault(statuses, after)     500 (Canvas JSON + error_report_id) or
                                                502/503/504 (load-balancer HTML); with
                                                `after`, the request IS handled first
  reset_after   RequestFault                    handled (an import IS created), then a TCP
                                                reset instead of the answer

Import faults (processing), drawn when an import starts:

  stuck         StuckFault(seconds)             stay `importing` N more seconds, or forever
                                                (None) until aborted
  outcome       OutcomeFault(state)             end `failed_with_messages`, `failed` or
                                                `aborted` whatever the file holds

Account report faults, drawn when a report run starts:

  report_outcome ReportFault(state)             end the run `error` (or `aborted`), no file

JSON form (control endpoint): the same names, e.g.
`{"seed": 7, "reset_after": {"count": 1, "methods": ["POST"], "path": "sis_imports$"}}`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

FORCED_STATES = ("failed_with_messages", "failed", "aborted")
FORCED_REPORT_STATES = ("error", "aborted")
ERROR_STATUSES = (500, 502, 503, 504)
MAINTENANCE_STATUSES = (200, 503)


class FaultPlanError(ValueError):
    """A fault plan that cannot be used; the message names the field."""


@dataclass(frozen=True)
class RequestFault:
    """A fault on HTTP requests: the next `count` matching ones, then each with `rate`.

    `methods` (upper-case; empty = all) and `path` (a regex searched in the request path;
    empty = all) choose the matching requests.
    """

    rate: float = 0.0
    count: int = 0
    methods: tuple[str, ...] = ()
    path: str = ""

    def __post_init__(self) -> None:
        _check_trigger(self.rate, self.count)
        if not all(isinstance(method, str) for method in self.methods):
            raise FaultPlanError("methods must be HTTP method names")
        if not isinstance(self.path, str):
            raise FaultPlanError("path must be a regular expression string")
        # Frozen: normalise through object.__setattr__, the documented dataclass escape.
        object.__setattr__(self, "methods", tuple(m.upper() for m in self.methods))
        try:
            re.compile(self.path)
        except re.error as error:
            raise FaultPlanError(f"path is not a regular expression: {error}") from None

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is in this fault's scope."""
        if self.methods and method.upper() not in self.methods:
            return False
        return re.search(self.path, path) is not None


@dataclass(frozen=True)
class LatencyFault(RequestFault):
    """Delay matching requests by `seconds` before handling them."""

    seconds: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_seconds("seconds", self.seconds)


@dataclass(frozen=True)
class ErrorFault(RequestFault):
    """Answer with one of `statuses` (chosen by the fault's random stream); with `after`,
    the request is handled first, so a POST still creates its import."""

    statuses: tuple[int, ...] = ERROR_STATUSES
    after: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.statuses or set(self.statuses) - set(ERROR_STATUSES):
            raise FaultPlanError(f"statuses must be some of {list(ERROR_STATUSES)}")
        if not isinstance(self.after, bool):
            raise FaultPlanError("after must be true or false")


@dataclass(frozen=True)
class MaintenanceFault(RequestFault):
    """Answer with Canvas's HTML maintenance page and `status` (503, or 200 as some
    maintenance pages do)."""

    status: int = 503

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.status not in MAINTENANCE_STATUSES:
            raise FaultPlanError(f"status must be one of {list(MAINTENANCE_STATUSES)}")


@dataclass(frozen=True)
class ImportFault:
    """A fault on imports: the next `count` imports to start, then each with `rate`."""

    rate: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        _check_trigger(self.rate, self.count)


@dataclass(frozen=True)
class StuckFault(ImportFault):
    """Keep the import `importing` `seconds` longer, or forever when None (until aborted)."""

    seconds: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seconds is not None:
            _check_seconds("seconds", self.seconds)


@dataclass(frozen=True)
class OutcomeFault(ImportFault):
    """End the import in `state` instead of what its file would give."""

    state: str = "failed_with_messages"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.state not in FORCED_STATES:
            raise FaultPlanError(f"state must be one of {list(FORCED_STATES)}")


@dataclass(frozen=True)
class ReportFault(ImportFault):
    """End an account report run in `state` (Canvas's `error`, or `aborted`) without a
    file, instead of `complete`."""

    state: str = "error"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.state not in FORCED_REPORT_STATES:
            raise FaultPlanError(f"state must be one of {list(FORCED_REPORT_STATES)}")


@dataclass(frozen=True)
class Faults:
    """A complete fault plan; the default plan injects nothing."""

    seed: int | None = None
    latency: LatencyFault | None = None
    reset_before: RequestFault | None = None
    maintenance: MaintenanceFault | None = None
    errors: ErrorFault | None = None
    reset_after: RequestFault | None = None
    stuck: StuckFault | None = None
    outcome: OutcomeFault | None = None
    report_outcome: ReportFault | None = None


_KIND_TYPES: dict[str, type[RequestFault] | type[ImportFault]] = {
    "latency": LatencyFault,
    "reset_before": RequestFault,
    "maintenance": MaintenanceFault,
    "errors": ErrorFault,
    "reset_after": RequestFault,
    "stuck": StuckFault,
    "outcome": OutcomeFault,
    "report_outcome": ReportFault,
}
FAULT_KINDS = tuple(_KIND_TYPES)
_Kind = TypeVar("_Kind", bound=RequestFault | ImportFault)


def _check_trigger(rate: float, count: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise FaultPlanError("rate must be a number from 0 to 1")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise FaultPlanError("count must be an integer >= 0")


def _check_seconds(name: str, value: float) -> None:
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not math.isfinite(value) or value < 0:
        raise FaultPlanError(f"{name} must be a number >= 0")


def faults_to_json(faults: Faults) -> dict[str, Any]:
    """The plan as JSON-ready data (absent kinds are null)."""
    return asdict(faults)


def faults_from_json(document: Any) -> Faults:
    """Build a plan from its JSON form.  Raises FaultPlanError naming the bad field."""
    if not isinstance(document, dict):
        raise FaultPlanError("the fault plan must be a JSON object")
    unknown = set(document) - {"seed", *FAULT_KINDS}
    if unknown:
        raise FaultPlanError(f"unknown fault kinds: {sorted(unknown)}")
    seed = document.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultPlanError("seed must be an integer or null")
    return Faults(
        seed=seed,
        latency=_kind_from_json(document, "latency", LatencyFault),
        reset_before=_kind_from_json(document, "reset_before", RequestFault),
        maintenance=_kind_from_json(document, "maintenance", MaintenanceFault),
        errors=_kind_from_json(document, "errors", ErrorFault),
        reset_after=_kind_from_json(document, "reset_after", RequestFault),
        stuck=_kind_from_json(document, "stuck", StuckFault),
        outcome=_kind_from_json(document, "outcome", OutcomeFault),
        report_outcome=_kind_from_json(document, "report_outcome", ReportFault),
    )


def _kind_from_json(document: dict[str, Any], name: str, kind_type: type[_Kind]) -> _Kind | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FaultPlanError(f"{name} must be a JSON object")
    unknown = set(value) - {f.name for f in fields(kind_type)}
    if unknown:
        raise FaultPlanError(f"{name}: unknown fields {sorted(unknown)}")
    arguments: dict[str, Any] = {
        key: tuple(item) if isinstance(item, list) else item for key, item in value.items()
    }
    try:
        return kind_type(**arguments)
    except (TypeError, ValueError) as error:  # FaultPlanError is a ValueError
        raise FaultPlanError(f"{name}: {error}") from None
