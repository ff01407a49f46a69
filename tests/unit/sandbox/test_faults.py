"""Fault plans: validation and the JSON form of the control endpoint."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.sandbox.faults import (
    ErrorFault,
    FaultPlanError,
    Faults,
    LatencyFault,
    OutcomeFault,
    RequestFault,
    StuckFault,
    faults_from_json,
    faults_to_json,
)


def test_request_scope_matches_methods_and_path_regex() -> None:
    fault = RequestFault(methods=("post",), path=r"/sis_imports$")
    assert fault.methods == ("POST",)
    assert fault.matches("POST", "/api/v1/accounts/1/sis_imports")
    assert not fault.matches("GET", "/api/v1/accounts/1/sis_imports")
    assert not fault.matches("POST", "/api/v1/accounts/1/sis_imports/3")
    assert RequestFault().matches("DELETE", "/anything")


@pytest.mark.parametrize(
    "build",
    [
        lambda: RequestFault(rate=1.5),
        lambda: RequestFault(rate=True),
        lambda: RequestFault(count=-1),
        lambda: RequestFault(path="("),
        lambda: RequestFault(methods=(1,)),  # type: ignore[arg-type]
        lambda: LatencyFault(seconds=-1),
        lambda: ErrorFault(statuses=(418,)),
        lambda: ErrorFault(statuses=()),
        lambda: StuckFault(seconds=float("nan")),
        lambda: OutcomeFault(state="imported"),
    ],
)
def test_invalid_faults_are_refused(build: Callable[[], object]) -> None:
    with pytest.raises(FaultPlanError):
        build()


def test_json_round_trip() -> None:
    plan = Faults(
        seed=3,
        latency=LatencyFault(rate=0.5, seconds=0.2),
        errors=ErrorFault(count=2, statuses=(502, 504), after=True, methods=("POST",)),
        stuck=StuckFault(count=1),
        outcome=OutcomeFault(rate=0.1, state="aborted"),
    )
    document = faults_to_json(plan)
    assert document["errors"]["statuses"] == (502, 504)
    assert (
        faults_from_json({k: (list(v) if isinstance(v, tuple) else v) for k, v in document.items()})
        == plan
    )
    assert faults_from_json({}) == Faults()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "JSON object"),
        ({"seed": "x"}, "seed"),
        ({"chaos": {}}, "unknown fault kinds"),
        ({"errors": 1}, "errors must be a JSON object"),
        ({"errors": {"colour": 1}}, "errors: unknown fields"),
        ({"errors": {"rate": 2}}, "errors: rate"),
        ({"maintenance": {"status": 500}}, "maintenance: status"),
    ],
)
def test_json_errors_name_the_field(document: object, message: str) -> None:
    with pytest.raises(FaultPlanError, match=message):
        faults_from_json(document)
