"""Deciding, per request and per import, which faults of the current plan fire.

Each fault kind has its own trigger: a countdown for `count`, then a random stream for
`rate`.  A trigger draws exactly one number for every request (or import) in its scope,
whether or not an earlier kind already fired, so a kind's decisions depend only on the
sequence of requests it saw; with a seed that makes a run repeatable even when several
kinds are active.  Thread-safe.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from gateway.sandbox.faults import (
    FAULT_KINDS,
    ErrorFault,
    Faults,
    ImportFault,
    LatencyFault,
    MaintenanceFault,
    OutcomeFault,
    ReportFault,
    RequestFault,
    StuckFault,
)
from gateway.sandbox.wire import Response, json_response

_F = TypeVar("_F", bound=RequestFault | ImportFault)
HTML_TYPE = "text/html"
_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
MAINTENANCE_PAGE = (
    b'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    b"<title>Canvas is down for maintenance</title>\n</head>\n<body>\n"
    b"<h1>Canvas is down for maintenance</h1>\n"
    b"<p>We're performing scheduled maintenance. Canvas will be back shortly.</p>\n"
    b"</body>\n</html>\n"
)


@dataclass(frozen=True)
class RequestPlan:
    """The faults one request meets (defaults: none)."""

    latency: float = 0.0
    reset_before: bool = False
    maintenance: int | None = None  # status of the maintenance page
    error: int | None = None  # status of the error answer
    error_after: bool = False  # the error replaces the answer of a handled request
    reset_after: bool = False


@dataclass(frozen=True)
class ImportPlan:
    """The faults one import meets: stuck (for `stuck_seconds`, None = until aborted)
    and/or a forced final state."""

    stuck: bool = False
    stuck_seconds: float | None = None
    outcome: str | None = None


class _Trigger:
    """The countdown and random stream of one fault kind."""

    def __init__(self, fault: RequestFault | ImportFault, stream: random.Random) -> None:
        self.fault = fault
        self.stream = stream
        self.remaining = fault.count

    def fires(self) -> bool:
        draw = self.stream.random()  # drawn every time, so the stream stays aligned
        if self.remaining > 0:
            self.remaining -= 1
            return True
        return draw < self.fault.rate


class FaultInjector:
    """Holds the current plan and answers "which faults now?"."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self._triggers: dict[str, _Trigger] = {}
        self._fired: Counter[str] = Counter()
        self.set(faults or Faults())

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set(self, faults: Faults) -> None:
        """Replace the plan; counters, random streams and fired counts restart."""
        with self._lock:
            self._faults = faults
            self._fired = Counter()
            self._triggers = {}
            for kind in FAULT_KINDS:
                fault = getattr(faults, kind)
                if fault is not None:
                    self._triggers[kind] = _Trigger(fault, _stream(faults.seed, kind))

    def fired(self) -> dict[str, int]:
        """How many times each kind fired under the current plan."""
        with self._lock:
            return dict(self._fired)

    def for_request(self, method: str, path: str) -> RequestPlan:
        """Draw the request faults for one request."""
        with self._lock:
            hits = {kind: self._fires(kind, method, path) for kind in _REQUEST_KINDS}
            latency = self._fault("latency", LatencyFault)
            maintenance = self._fault("maintenance", MaintenanceFault)
            errors = self._fault("errors", ErrorFault)
            error_status = None
            if hits["errors"] and errors is not None:
                error_status = self._triggers["errors"].stream.choice(errors.statuses)
            return RequestPlan(
                latency=latency.seconds if hits["latency"] and latency else 0.0,
                reset_before=hits["reset_before"],
                maintenance=maintenance.status if hits["maintenance"] and maintenance else None,
                error=error_status,
                error_after=bool(errors and errors.after),
                reset_after=hits["reset_after"],
            )

    def for_import(self) -> ImportPlan:
        """Draw the import faults for one import that is starting."""
        with self._lock:
            stuck = self._fires("stuck")
            forced = self._fires("outcome")
            stuck_fault = self._fault("stuck", StuckFault)
            outcome_fault = self._fault("outcome", OutcomeFault)
            return ImportPlan(
                stuck=stuck,
                stuck_seconds=stuck_fault.seconds if stuck and stuck_fault else None,
                outcome=outcome_fault.state if forced and outcome_fault else None,
            )

    def for_report(self) -> str | None:
        """Draw the report faults for one account report run that is starting: the state
        it is forced to end in, or None."""
        with self._lock:
            forced = self._fires("report_outcome")
            fault = self._fault("report_outcome", ReportFault)
            return fault.state if forced and fault is not None else None

    def _fires(self, kind: str, method: str | None = None, path: str = "") -> bool:
        trigger = self._triggers.get(kind)
        if trigger is None:
            return False
        fault = trigger.fault
        if isinstance(fault, RequestFault) and not fault.matches(method or "", path):
            return False
        fired = trigger.fires()
        if fired:
            self._fired[kind] += 1
        return fired

    def _fault(self, kind: str, fault_type: type[_F]) -> _F | None:
        trigger = self._triggers.get(kind)
        fault = trigger.fault if trigger is not None else None
        return fault if isinstance(fault, fault_type) else None


_REQUEST_KINDS = ("latency", "reset_before", "maintenance", "errors", "reset_after")


def _stream(seed: int | None, kind: str) -> random.Random:
    """A kind's own random stream: seeded from (seed, kind), or from the OS without a seed."""
    return random.Random(f"{seed}:{kind}") if seed is not None else random.Random()


def error_response(status: int, error_report: Callable[[], int]) -> Response:
    """Canvas's 500 JSON, or the load balancer's HTML page for 502/503/504."""
    if status == 500:
        body = {"errors": [{"message": "An error occurred."}], "error_report_id": error_report()}
        return json_response(500, body)
    title = f"{status} {_REASONS[status]}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(status, page.encode(), HTML_TYPE)


def maintenance_response(status: int) -> Response:
    """The HTML maintenance page, with 503 or (as some maintenance modes do) 200."""
    return Response(status, MAINTENANCE_PAGE, f"{HTML_TYPE}; charset=utf-8")
