"""Command-line flags for the sandbox's fault plan and throttle.

--seed N                   repeatable faults: every kind draws from a stream seeded by N
--latency SECONDS          delay requests by SECONDS ...
--latency-rate R           ... with probability R (default 1: every request)
--reset-before-rate R      TCP reset before the request is handled (nothing created)
--reset-after-rate R       TCP reset after it is handled (an import IS created)
--fail-rate R              5xx answers: 500 Canvas JSON, 502/503/504 load-balancer HTML
--fail-status S            only these statuses (repeatable; default 500 502 503 504)
--fail-after               answer the 5xx after handling the request (ambiguous POST)
--maintenance-rate R       HTML maintenance page ...
--maintenance-status S     ... with 503 (default) or 200
--stuck-rate R             imports stay `importing` ...
--stuck-count N            ... or the next N imports do ...
--stuck-seconds S          ... for S more seconds (default: until aborted)
--outcome-rate R           imports end in a forced state ...
--outcome-count N          ... or the next N imports do ...
--outcome STATE            ... failed_with_messages (default), failed or aborted
--fault-method M           request faults only for method M (repeatable)
--fault-path REGEX         request faults only for paths matching REGEX
--request-cost COST        throttle cost charged per request (default 0)
--throttle-status S        403 (Canvas, default) or 429 when throttled
--no-throttle              turn the throttle off
"""

from __future__ import annotations

import argparse

from gateway.sandbox.faults import (
    ERROR_STATUSES,
    FORCED_STATES,
    MAINTENANCE_STATUSES,
    ErrorFault,
    Faults,
    LatencyFault,
    MaintenanceFault,
    OutcomeFault,
    RequestFault,
    StuckFault,
)
from gateway.sandbox.throttle import THROTTLED_BODIES, Throttling


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be from 0 to 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the fault and throttle flags (see the module docstring)."""
    group = parser.add_argument_group(
        "fault injection", "rates are probabilities from 0 to 1, drawn per request or import"
    )
    add = group.add_argument
    add("--seed", type=int, help="seed for repeatable faults")
    add("--latency", type=_non_negative, default=0.0, metavar="SECONDS", help="delay requests")
    add("--latency-rate", type=_rate, default=1.0, metavar="R", help="share delayed (default 1)")
    add("--reset-before-rate", type=_rate, default=0.0, metavar="R", help="TCP reset, unhandled")
    add("--reset-after-rate", type=_rate, default=0.0, metavar="R", help="TCP reset once handled")
    add("--fail-rate", type=_rate, default=0.0, metavar="R", help="answer 500/502/503/504")
    add("--fail-status", type=int, action="append", choices=ERROR_STATUSES, help="repeatable")
    add("--fail-after", action="store_true", help="handle the request, then answer the 5xx")
    add("--maintenance-rate", type=_rate, default=0.0, metavar="R", help="maintenance page")
    add("--maintenance-status", type=int, choices=MAINTENANCE_STATUSES, default=503,
        help="the maintenance page's status (default: 503)")
    add("--stuck-rate", type=_rate, default=0.0, metavar="R", help="imports stay importing")
    add("--stuck-count", type=_count, default=0, metavar="N", help="the next N imports stick")
    add("--stuck-seconds", type=_non_negative, metavar="S", help="default: until aborted")
    add("--outcome-rate", type=_rate, default=0.0, metavar="R", help="force a final state")
    add("--outcome-count", type=_count, default=0, metavar="N", help="for the next N imports")
    add("--outcome", choices=FORCED_STATES, default="failed_with_messages",
        help="the state forced imports end in (default: failed_with_messages)")
    add("--fault-method", action="append", default=[], metavar="M", help="limit request faults")
    add("--fault-path", default="", metavar="REGEX", help="limit request faults to paths")
    throttle = parser.add_argument_group("throttling", "Canvas's leaky bucket, on by default")
    throttle.add_argument(
        "--request-cost", type=_non_negative, default=0.0, metavar="COST", help="cost per request"
    )
    throttle.add_argument(
        "--throttle-status", type=int, choices=sorted(THROTTLED_BODIES), help="default 403"
    )
    throttle.add_argument("--no-throttle", action="store_true", help="turn the throttle off")


def faults_from_args(args: argparse.Namespace) -> Faults:
    """The fault plan the flags describe; kinds left at rate 0 (and count 0) are off."""
    methods, path = tuple(args.fault_method), args.fault_path
    latency = errors = maintenance = None
    if args.latency:
        latency = LatencyFault(args.latency_rate, 0, methods, path, seconds=args.latency)
    if args.fail_rate:
        statuses = tuple(args.fail_status or ERROR_STATUSES)
        errors = ErrorFault(args.fail_rate, 0, methods, path, statuses, args.fail_after)
    if args.maintenance_rate:
        maintenance = MaintenanceFault(
            args.maintenance_rate, 0, methods, path, status=args.maintenance_status
        )
    return Faults(
        seed=args.seed,
        latency=latency,
        reset_before=_request_fault(args.reset_before_rate, methods, path),
        maintenance=maintenance,
        errors=errors,
        reset_after=_request_fault(args.reset_after_rate, methods, path),
        stuck=(
            StuckFault(args.stuck_rate, args.stuck_count, seconds=args.stuck_seconds)
            if args.stuck_rate or args.stuck_count
            else None
        ),
        outcome=(
            OutcomeFault(args.outcome_rate, args.outcome_count, state=args.outcome)
            if args.outcome_rate or args.outcome_count
            else None
        ),
    )


def _request_fault(rate: float, methods: tuple[str, ...], path: str) -> RequestFault | None:
    return RequestFault(rate, 0, methods, path) if rate else None


def throttling_from_args(args: argparse.Namespace) -> Throttling:
    """Canvas's throttle, adjusted by the flags."""
    return Throttling(
        enabled=not args.no_throttle,
        request_cost=args.request_cost,
        status=args.throttle_status or 403,
    )
