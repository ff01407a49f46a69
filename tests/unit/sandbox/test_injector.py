"""Fault decisions: count then rate, scope, independent seeded streams, fault pages."""

from __future__ import annotations

from gateway.sandbox.faults import (
    ErrorFault,
    Faults,
    LatencyFault,
    MaintenanceFault,
    OutcomeFault,
    RequestFault,
    StuckFault,
)
from gateway.sandbox.injector import (
    FaultInjector,
    ImportPlan,
    RequestPlan,
    error_response,
    maintenance_response,
)

PATH = "/api/v1/accounts/1/sis_imports"


def test_no_plan_no_faults() -> None:
    injector = FaultInjector()
    assert injector.for_request("GET", PATH) == RequestPlan()
    assert injector.for_import() == ImportPlan()
    assert injector.fired() == {}


def test_count_fires_first_then_rate() -> None:
    injector = FaultInjector(Faults(reset_after=RequestFault(count=2)))
    fired = [injector.for_request("GET", PATH).reset_after for _ in range(5)]
    assert fired == [True, True, False, False, False]
    assert injector.fired() == {"reset_after": 2}
    injector.set(Faults(reset_after=RequestFault(rate=1.0)))
    assert injector.fired() == {}
    assert all(injector.for_request("GET", PATH).reset_after for _ in range(5))


def test_out_of_scope_requests_neither_fire_nor_use_the_count() -> None:
    injector = FaultInjector(Faults(reset_before=RequestFault(count=1, methods=("POST",))))
    assert not injector.for_request("GET", PATH).reset_before
    assert injector.for_request("POST", PATH).reset_before
    assert not injector.for_request("POST", PATH).reset_before


def test_request_plan_fields() -> None:
    injector = FaultInjector(
        Faults(
            latency=LatencyFault(count=1, seconds=0.5),
            maintenance=MaintenanceFault(count=1, status=200),
            errors=ErrorFault(count=1, statuses=(504,), after=True),
        )
    )
    assert injector.for_request("GET", PATH) == RequestPlan(
        latency=0.5, maintenance=200, error=504, error_after=True
    )
    assert injector.for_request("GET", PATH) == RequestPlan(error_after=True)


def test_seeded_streams_repeat_and_are_independent_per_kind() -> None:
    errors = ErrorFault(rate=0.5)

    def run(plan: Faults) -> list[int | None]:
        injector = FaultInjector(plan)
        return [injector.for_request("GET", PATH).error for _ in range(40)]

    alone = run(Faults(seed=9, errors=errors))
    assert alone == run(Faults(seed=9, errors=errors))
    assert None in alone
    assert len(set(alone)) >= 3  # statuses are drawn from the same stream
    # Another kind beside it does not shift the errors' stream.
    assert alone == run(Faults(seed=9, errors=errors, reset_after=RequestFault(rate=0.5)))
    assert alone != run(Faults(seed=10, errors=errors))


def test_import_plans() -> None:
    injector = FaultInjector(
        Faults(
            stuck=StuckFault(count=1, seconds=2.0),
            outcome=OutcomeFault(count=2, state="failed"),
        )
    )
    assert injector.for_import() == ImportPlan(stuck=True, stuck_seconds=2.0, outcome="failed")
    assert injector.for_import() == ImportPlan(outcome="failed")
    assert injector.for_import() == ImportPlan()
    assert injector.fired() == {"stuck": 1, "outcome": 2}


def test_fault_pages() -> None:
    reports = iter([41])
    server_error = error_response(500, lambda: next(reports))
    assert server_error.body == (
        b'{"errors":[{"message":"An error occurred."}],"error_report_id":41}'
    )
    bad_gateway = error_response(502, lambda: 0)
    assert bad_gateway.content_type == "text/html"
    assert b"<center><h1>502 Bad Gateway</h1></center>" in bad_gateway.body
    page = maintenance_response(200)
    assert (page.status, page.content_type) == (200, "text/html; charset=utf-8")
    assert b"Canvas is down for maintenance" in page.body
