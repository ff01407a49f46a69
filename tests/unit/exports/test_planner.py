"""The planner against a real store driven by a controllable clock: schedule times in the
institution's time zone (daylight saving included), missed times coalesced, imports and
requests, starts, and one run per slot however often it is planned."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from gateway.exports.config import ExportSettings
from gateway.exports.planner import Planner, UnknownExportError, queue_operator_run
from gateway.exports.runs import runs_of
from gateway.institutions import CanvasTarget, Institution
from gateway.intake.requests import RequestRefusedError
from gateway.state.states import BatchState, ExportRunState
from gateway.state.store import Store
from tests.conftest import StoreMaker

CHICAGO = ZoneInfo("America/Chicago")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def to(self, moment: datetime) -> float:
        self.now = moment.timestamp()
        return self.now


def institution(*exports: ExportSettings) -> Institution:
    return Institution(name="alpha", username="alpha", password_hash=None,
                       authorized_keys=(), canvas=CanvasTarget("https://canvas.test", "1",
                                                               SecretStr("t")),
                       report_to=(), report_cc=(), time_zone="America/Chicago",
                       exports=exports)


def setup(make_store: StoreMaker, *exports: ExportSettings,
          start: datetime) -> tuple[Store, Clock, Planner]:
    clock = Clock(start)
    store = make_store(clock)
    found = {"alpha": institution(*exports)}
    return store, clock, Planner(store, lambda: found, started_at=clock())


def slots(store: Store) -> list[str]:
    return [run.slot for run in reversed(runs_of(store, "alpha"))]


NIGHTLY = ExportSettings(report="provisioning_csv", csvs=["users"], schedule="0 2 * * *")


def test_a_nightly_schedule_runs_at_two_local_time_once_per_night(make_store: StoreMaker) -> None:
    store, clock, planner = setup(make_store, NIGHTLY,
                                  start=datetime(2026, 12, 1, 0, 0, tzinfo=CHICAGO))
    assert planner.plan(clock()) == 0  # first sight: runs from the next time on
    assert planner.plan(clock.to(datetime(2026, 12, 1, 1, 59, 59, tzinfo=CHICAGO))) == 0
    assert planner.plan(clock.to(datetime(2026, 12, 1, 2, 0, tzinfo=CHICAGO))) == 1
    assert planner.plan(clock.to(datetime(2026, 12, 1, 2, 0, 30, tzinfo=CHICAGO))) == 0
    assert slots(store) == ["cron:2026-12-01T08:00:00Z"]  # 02:00 CST is 08:00 UTC
    [run] = runs_of(store, "alpha")
    assert run.trigger == "schedule"
    assert run.parameters == {"users": "true"}


def test_missed_nights_while_down_are_one_run(make_store: StoreMaker) -> None:
    store, clock, planner = setup(make_store, NIGHTLY,
                                  start=datetime(2026, 12, 1, 0, 0, tzinfo=CHICAGO))
    planner.plan(clock())
    assert planner.plan(clock.to(datetime(2026, 12, 4, 9, 0, tzinfo=CHICAGO))) == 1
    assert slots(store) == ["cron:2026-12-01T08:00:00Z"]
    assert planner.plan(clock.to(datetime(2026, 12, 5, 2, 0, tzinfo=CHICAGO))) == 1
    assert slots(store)[-1] == "cron:2026-12-05T08:00:00Z"


def test_daylight_saving_days_keep_local_time(make_store: StoreMaker) -> None:
    half_past_two = ExportSettings(report="last_user_access_csv", schedule="30 2 * * *")
    store, clock, planner = setup(make_store, half_past_two,
                                  start=datetime(2026, 3, 7, 12, 0, tzinfo=CHICAGO))
    planner.plan(clock())
    planner.plan(clock.to(datetime(2026, 3, 8, 12, 0, tzinfo=CHICAGO)))  # spring forward
    planner.plan(clock.to(datetime(2026, 3, 9, 12, 0, tzinfo=CHICAGO)))  # CDT from now on
    planner.plan(clock.to(datetime(2026, 10, 31, 12, 0, tzinfo=CHICAGO)))  # (down since)
    planner.plan(clock.to(datetime(2026, 11, 1, 12, 0, tzinfo=CHICAGO)))  # back to CST
    # 02:30 does not exist on 8 March: cron runs at 03:00 CDT; then 02:30 CDT (the nights
    # missed from 10 March are one run), and 02:30 CST on 1 November.
    assert slots(store) == ["cron:2026-03-08T08:00:00Z", "cron:2026-03-09T07:30:00Z",
                            "cron:2026-03-10T07:30:00Z", "cron:2026-11-01T08:30:00Z"]


def test_two_planners_at_once_make_one_run_per_slot(make_store: StoreMaker) -> None:
    clock = Clock(datetime(2026, 12, 1, 0, 0, tzinfo=CHICAGO))
    store = make_store(clock)
    planner = Planner(store, lambda: {"alpha": institution(NIGHTLY)}, started_at=clock())
    planner.plan(clock())
    other = Planner(store, lambda: {"alpha": institution(NIGHTLY)}, started_at=clock())
    clock.to(datetime(2026, 12, 1, 2, 0, tzinfo=CHICAGO))
    assert planner.plan(clock()) + other.plan(clock()) == 1
    with store.transaction() as txn:
        again = txn.add_export_run("alpha", "provisioning_csv", "provisioning_csv",
                                   slot="cron:2026-12-01T08:00:00Z", trigger="schedule",
                                   parameters={})
    assert again is None
    assert len(runs_of(store, "alpha")) == 1


def _import_one(store: Store) -> None:
    with store.transaction() as txn:
        batch = txn.create_batch("alpha")
    _import(store, batch)


def _import(store: Store, batch: int) -> None:
    with store.transaction() as txn:
        for old, new in ((BatchState.OPEN, BatchState.READY),
                         (BatchState.READY, BatchState.SUBMITTING),
                         (BatchState.SUBMITTING, BatchState.IMPORTING),
                         (BatchState.IMPORTING, BatchState.IMPORTED)):
            txn.move("batch", batch, old, new)


def test_after_import_runs_once_per_new_import_never_for_old_ones(make_store: StoreMaker) -> None:
    after = ExportSettings(report="sis_export_csv", csvs=["enrollments"], after_import=True)
    store, clock, planner = setup(make_store, after,
                                  start=datetime(2026, 12, 1, tzinfo=CHICAGO))
    _import_one(store)  # before the export was ever planned: not run for
    assert planner.plan(clock()) == 0
    _import_one(store)
    assert planner.plan(clock()) == 1
    assert planner.plan(clock()) == 0
    assert slots(store) == ["import:batch-000002"]


def test_a_lower_batch_imported_later_runs_the_export_too(make_store: StoreMaker) -> None:
    # Batch 1 was held and released: it finishes after batch 2, and is new to the export.
    after = ExportSettings(report="sis_export_csv", csvs=["enrollments"], after_import=True)
    store, clock, planner = setup(make_store, after,
                                  start=datetime(2026, 12, 1, tzinfo=CHICAGO))
    assert planner.plan(clock()) == 0  # the first look: no imports yet
    with store.transaction() as txn:
        first, second = txn.create_batch("alpha"), txn.create_batch("alpha")
    _import(store, second)
    assert planner.plan(clock()) == 1
    _import(store, first)
    assert planner.plan(clock()) == 1
    assert planner.plan(clock()) == 0
    assert slots(store) == ["import:batch-000002", "import:batch-000001"]


def test_requests_queue_one_waiting_run_and_name_the_exports(make_store: StoreMaker) -> None:
    grades = ExportSettings(report="grade_export_csv", term="sis_term_id:2026-fall")
    hidden = ExportSettings(report="last_user_access_csv", on_request=False)
    store, _, planner = setup(make_store, grades, hidden,
                              start=datetime(2026, 12, 1, tzinfo=CHICAGO))
    first = planner.request("alpha", "grade_export_csv")
    assert first is not None
    assert planner.request("alpha", "grade_export_csv") is None  # one is still waiting
    with pytest.raises(UnknownExportError, match="the exports are: grade_export_csv"):
        planner.request("alpha", "last_user_access_csv")
    [run] = runs_of(store, "alpha")
    assert run.parameters == {"enrollment_term_id": "sis_term_id:2026-fall"}


class RacingClock(Clock):
    """Each request thread's first look at the clock waits (up to a second) until the other
    thread looks too: without one transaction around check and insert, both threads have
    checked for a waiting run before either inserts.  Time moves a millisecond per look, so
    the two requests name two slots."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.barrier = threading.Barrier(2, timeout=1.0)
        self.local = threading.local()

    def __call__(self) -> float:
        if threading.current_thread().name.startswith("racing") and \
                not getattr(self.local, "seen", False):
            self.local.seen = True
            with contextlib.suppress(threading.BrokenBarrierError):
                self.barrier.wait()
        self.now += 0.001
        return self.now


def test_two_requests_arriving_together_queue_one_run(make_store: StoreMaker) -> None:
    grades = ExportSettings(report="grade_export_csv")
    clock = RacingClock(datetime(2026, 12, 1, tzinfo=CHICAGO))
    store = make_store(clock)
    planner = Planner(store, lambda: {"alpha": institution(grades)}, started_at=clock.now)
    threads = [threading.Thread(target=planner.request, args=("alpha", "grade_export_csv"),
                                name=f"racing-{n}") for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runs_of(store, "alpha")) == 1


def test_requests_one_after_another_are_refused_until_the_interval_passed(
        make_store: StoreMaker) -> None:
    grades = ExportSettings(report="grade_export_csv", request_interval_seconds=600)
    store, clock, planner = setup(make_store, grades, start=datetime(2026, 12, 1, tzinfo=UTC))
    first = planner.request("alpha", "grade_export_csv")
    assert first is not None
    with store.transaction() as txn:  # the exporter took it: no longer waiting
        txn.move("export_run", first, ExportRunState.SCHEDULED, ExportRunState.STARTING)
    clock.to(datetime(2026, 12, 1, 0, 9, tzinfo=UTC))
    assert planner.refusal("alpha", "grade_export_csv") is not None  # told at the open
    with pytest.raises(RequestRefusedError, match=(
            r"requested at 2026-12-01T00:00:00\+00:00; it can be requested once every 600 "
            r"seconds: ask again from 2026-12-01T00:10:00\+00:00")):
        planner.request("alpha", "grade_export_csv")
    clock.to(datetime(2026, 12, 1, 0, 10, tzinfo=UTC))
    assert planner.refusal("alpha", "grade_export_csv") is None
    assert planner.request("alpha", "grade_export_csv") is not None
    assert len(runs_of(store, "alpha")) == 2


AT_START = ExportSettings(report="provisioning_csv", csvs=["users"], run_at_start=True)
NINE = datetime(2026, 12, 1, 9, 0, tzinfo=CHICAGO)


def test_a_start_run_is_queued_once_and_later_rounds_try_no_insert(
        make_store: StoreMaker) -> None:
    # No interval: only the planner's memory of its start keeps later rounds from inserting.
    every_start = ExportSettings(report="provisioning_csv", csvs=["users"],
                                 run_at_start=True, request_interval_seconds=0)
    store, clock, planner = setup(make_store, every_start, start=NINE)
    assert planner.plan(clock()) == 1
    for seconds in range(1, 11):
        assert planner.plan(clock.to(NINE + timedelta(seconds=seconds))) == 0
    [run] = runs_of(store, "alpha")
    assert run.trigger == "start"
    # An insert refused by the slot's uniqueness still uses up an id (SQLite's AUTOINCREMENT,
    # PostgreSQL's sequence): the next run's id following at once shows no round tried one.
    assert queue_operator_run(store, "alpha", every_start) == run.id + 1


def test_a_restart_within_the_request_interval_starts_no_second_report(
        make_store: StoreMaker) -> None:
    store, clock, first = setup(make_store, AT_START, start=NINE)
    found = {"alpha": institution(AT_START)}
    assert first.plan(clock()) == 1
    clock.to(NINE + timedelta(minutes=10))  # a restart loop, or a second node starting
    assert Planner(store, lambda: found, started_at=clock()).plan(clock()) == 0
    clock.to(NINE + timedelta(minutes=16))  # past request_interval_seconds (900)
    assert Planner(store, lambda: found, started_at=clock()).plan(clock()) == 1
    assert [run.trigger for run in runs_of(store, "alpha")] == ["start", "start"]


@pytest.mark.parametrize(("held_after", "queued"), [(timedelta(minutes=4), 1),
                                                    (timedelta(minutes=6), 0)])
def test_only_held_institutions_are_planned_and_a_late_takeover_is_no_start(
        make_store: StoreMaker, held_after: timedelta, queued: int) -> None:
    no_interval = ExportSettings(report="provisioning_csv", csvs=["users"],
                                 run_at_start=True, request_interval_seconds=0)
    clock = Clock(NINE)
    store = make_store(clock)
    held: set[str] = set()
    planner = Planner(store, lambda: {"alpha": institution(no_interval)},
                      started_at=clock(), holds=held.__contains__)
    assert planner.plan(clock()) == 0  # another node holds it: nothing planned here
    assert runs_of(store, "alpha") == []
    held.add("alpha")  # the lease taken in the start period, or over later (a failover)
    assert planner.plan(clock.to(NINE + held_after)) == queued
    assert len(runs_of(store, "alpha")) == queued


def test_two_nodes_starting_together_queue_one_start_run(make_store: StoreMaker) -> None:
    """Two planners (two nodes' starts, so two slot names) plan at the same moment: the
    check of the last start run and the insert are one serialised decision."""
    clock = RacingClock(NINE)
    store = make_store(clock)
    found = {"alpha": institution(AT_START)}
    planners = [Planner(store, lambda: found, started_at=clock.now + n) for n in range(2)]
    threads = [threading.Thread(target=planner.plan, args=(clock.now + 2,), name=f"racing-{n}")
               for n, planner in enumerate(planners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [run.trigger for run in runs_of(store, "alpha")] == ["start"]


@pytest.mark.parametrize(("period", "queued"), [(None, 0), (1800.0, 1)])
def test_a_longer_start_period_covers_leases_retaken_late(
        make_store: StoreMaker, period: float | None, queued: int) -> None:
    """A restarted cluster node retakes its leases only once they expired (up to ten
    minutes): its exporter's start period is three lease times, not five minutes."""
    no_interval = ExportSettings(report="provisioning_csv", csvs=["users"],
                                 run_at_start=True, request_interval_seconds=0)
    clock = Clock(NINE)
    store = make_store(clock)
    found = {"alpha": institution(no_interval)}
    planner = (Planner(store, lambda: found, started_at=clock()) if period is None
               else Planner(store, lambda: found, started_at=clock(), start_period=period))
    assert planner.plan(clock.to(NINE + timedelta(minutes=11))) == queued
