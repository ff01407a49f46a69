"""The forwarder against the sandbox as a real HTTP server: outcomes, errors, reconciliation."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator

import pytest
import requests
from pydantic import SecretStr

from gateway.forwarding.following import NO_ERRORS_FILE
from gateway.forwarding.forwarder import Forwarder
from gateway.forwarding.steps import BatchSteps, upload_name
from gateway.institutions import CanvasTarget, Institution
from gateway.ops.operator import requeue
from gateway.sandbox import (
    ErrorFault,
    Faults,
    LatencyFault,
    MaintenanceFault,
    RequestFault,
    StuckFault,
    Throttling,
)
from gateway.sandbox.server import CanvasSandbox
from gateway.settings import ForwardingSettings
from gateway.state.custody import Custody, PayloadKey
from gateway.state.records import BatchRecord
from gateway.state.spool import Spool
from gateway.state.states import BatchState, NoticeState
from gateway.state.store import Store
from tests.conftest import StoreMaker
from tests.integration.conftest import SANDBOX_TOKEN
from tests.integration.mail_server import free_port
from tests.unit.history import Clock

USERS = b"user_id,login_id,status\nu1,l1,active\n"


def _institution(base_url: str, token: str = SANDBOX_TOKEN) -> Institution:
    return Institution(name="alpha", username="alpha", password_hash=None, authorized_keys=(),
                       canvas=CanvasTarget(base_url, "1", SecretStr(token)),
                       report_to=(), report_cc=())


@pytest.fixture
def custody(paired_custody: Custody) -> Custody:
    """The payloads beside the store, as each deployment keeps them: the local spool with
    SQLite, the bucket with PostgreSQL."""
    return paired_custody


def _read(custody: Custody, key: PayloadKey) -> bytes:
    with custody.open(key) as payload:
        return payload.read()


def _put_zip(custody: Custody, batch_id: int, member: str, body: bytes) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, body)
    custody.put(PayloadKey.batch_zip(batch_id), buffer.getvalue(), replace=True)


def _forwarder(store: Store, custody: Custody,
               institution: Institution) -> Iterator[Forwarder]:
    forwarder = Forwarder(store=store, custody=custody,
                          institutions=lambda: {"alpha": institution},
                          settings=ForwardingSettings(request_timeout_seconds=5),
                          on_finished=lambda: None)
    yield forwarder
    forwarder.close()


@pytest.fixture
def forwarder(store: Store, custody: Custody, sandbox: CanvasSandbox) -> Iterator[Forwarder]:
    yield from _forwarder(store, custody, _institution(sandbox.base_url))


def _ready_batch(store: Store, custody: Custody, body: bytes = USERS,
                 institution: str = "alpha") -> BatchRecord:
    with store.transaction() as txn:
        batch_id = txn.create_batch(institution)
        txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
    _put_zip(custody, batch_id, "users.csv", body)
    return store.batch(batch_id)


def _step(forwarder: Forwarder) -> None:
    """One round, waited for (the runner would be woken when it ends)."""
    forwarder.step()
    forwarder.drain()


def _run_until(forwarder: Forwarder, store: Store, clock: Clock, batch_id: int,
               states: set[BatchState], rounds: int = 10_000,
               seconds: float = 60.0) -> BatchRecord:
    """Step until the batch reaches ``states`` (within ``rounds`` and real ``seconds``: the
    sandbox processes imports in real time, however fast the test clock runs)."""
    deadline = time.monotonic() + seconds
    for _ in range(rounds):
        if time.monotonic() > deadline:
            break
        _step(forwarder)
        batch = store.batch(batch_id)
        if batch.state in states:
            return batch
        clock.now += 60  # every wait is over
        # Let the sandbox's processor thread run when a poll finds the import still going.
        time.sleep(0.02)
    raise AssertionError(f"batch {batch_id} stuck in {store.batch(batch_id).state}")


def test_batch_is_posted_polled_and_finished(forwarder: Forwarder, store: Store, custody: Custody,
                                             clock: Clock, sandbox: CanvasSandbox) -> None:
    batch = _ready_batch(store, custody)
    done = _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
    [imported] = sandbox.imports("1")
    assert done.import_id == imported["id"]
    assert done.canvas_state == "imported"
    assert sandbox.payloads("1") == [_read(custody, PayloadKey.batch_zip(batch.id))]
    assert [n.batch_id for n in store.notices(state=NoticeState.PENDING)] == [batch.id]


def test_batches_of_one_institution_go_strictly_one_at_a_time(
        forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    sandbox.processing_seconds = 0.5
    first, second = _ready_batch(store, custody), _ready_batch(store, custody)
    _step(forwarder)
    assert store.batch(first.id).state is BatchState.IMPORTING
    assert store.batch(second.id).state is BatchState.READY
    _run_until(forwarder, store, clock, second.id, {BatchState.IMPORTED})
    assert [i["id"] for i in sandbox.imports("1")] == [store.batch(first.id).import_id,
                                                       store.batch(second.id).import_id]


def test_a_failed_import_holds_the_queue(forwarder: Forwarder, store: Store, custody: Custody,
                                         clock: Clock) -> None:
    failing = _ready_batch(store, custody, body=b"not,a,canvas,header\n1,2,3,4\n")
    later = _ready_batch(store, custody)
    _run_until(forwarder, store, clock, failing.id, {BatchState.FAILED})
    for _ in range(3):
        _step(forwarder)
        clock.now += 60
    assert store.batch(later.id).state is BatchState.READY
    assert "failed_with_messages" in (store.batch(failing.id).reason or "")


def test_a_wrong_token_holds_with_canvas_words_and_no_token(
        store: Store, custody: Custody, clock: Clock, sandbox: CanvasSandbox) -> None:
    secret = "wrong-token-never-shown"
    for forwarder in _forwarder(store, custody, _institution(sandbox.base_url, secret)):
        batch = _ready_batch(store, custody)
        held = _run_until(forwarder, store, clock, batch.id, {BatchState.HELD}, rounds=3)
    assert "401" in (held.reason or "")
    assert "Invalid access token" in (held.reason or "")
    assert secret not in (held.reason or "")
    assert sandbox.imports("1") == []


def test_canvas_down_defers_and_retries_later(store: Store, custody: Custody,
                                              clock: Clock) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    for forwarder in _forwarder(store, custody, _institution(down)):
        batch = _ready_batch(store, custody)
        _step(forwarder)
        later = store.batch(batch.id)
        assert later.state is BatchState.READY
        assert later.next_attempt_at > clock.now
        assert "connection failed" in (later.reason or "")


def _submitting(store: Store, custody: Custody, batch: BatchRecord) -> None:
    """As the forwarder leaves a batch when it stops during its POST: attempt recorded,
    zip members named for it, the POST's end never recorded."""
    BatchSteps(store, custody, ForwardingSettings()).begin_attempt(batch, None)


def _post_raw(sandbox: CanvasSandbox, body: bytes, filename: str) -> dict[str, object]:
    answer = requests.post(f"{sandbox.base_url}/api/v1/accounts/1/sis_imports",
                           headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
                           files={"attachment": (filename, body, "application/zip")},
                           timeout=10)
    assert answer.status_code == 200
    result: dict[str, object] = answer.json()
    return result


def test_unanswered_post_that_reached_canvas_is_adopted_not_reposted(
        forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    batch = _ready_batch(store, custody)
    clock.now = time.time()  # the sandbox stamps imports with real time
    _submitting(store, custody, batch)
    posted = _post_raw(sandbox, _read(custody, PayloadKey.batch_zip(batch.id)),
                       upload_name(batch.id, 1))
    adopted = _run_until(forwarder, store, clock, batch.id,
                         {BatchState.IMPORTING, BatchState.IMPORTED})
    assert adopted.import_id == posted["id"]
    assert len(sandbox.imports("1")) == 1


def test_unanswered_post_with_no_import_since_is_sent_again(
        forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    batch = _ready_batch(store, custody)
    _submitting(store, custody, batch)
    _step(forwarder)
    # Too soon to tell: Canvas may still be creating the import from a received request.
    assert store.batch(batch.id).state is BatchState.SUBMITTING
    clock.now += 5 + 30 + 1  # past the request timeout and the default grace
    _step(forwarder)
    assert store.batch(batch.id).state is BatchState.READY
    _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
    assert len(sandbox.imports("1")) == 1


def test_unanswered_post_is_never_reposted_while_canvas_cannot_be_asked(
        store: Store, custody: Custody, clock: Clock) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    for forwarder in _forwarder(store, custody, _institution(down)):
        batch = _ready_batch(store, custody)
        _submitting(store, custody, batch)
        for _ in range(5):
            _step(forwarder)
            clock.now = store.batch(batch.id).next_attempt_at + 1
        still = store.batch(batch.id)
        assert still.state is BatchState.SUBMITTING
        assert still.trouble_since is not None
        assert "connection failed" in (still.reason or "")


def test_unanswered_post_beside_other_systems_imports_is_sent_again_once_settled(
        forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    batch = _ready_batch(store, custody)
    clock.now = time.time()
    _submitting(store, custody, batch)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("users.csv", USERS)
    _post_raw(sandbox, buffer.getvalue(), "someone-else.zip")  # names another file
    _step(forwarder)
    assert store.batch(batch.id).state is BatchState.SUBMITTING  # not yet settled
    clock.now += 5 + 120 + 1
    _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
    ours = [i for i in sandbox.imports("1") if i["id"] == store.batch(batch.id).import_id]
    assert len(ours) == 1
    assert len(sandbox.imports("1")) == 2

def test_trouble_that_lasts_past_its_lifetime_holds_the_batch(
        store: Store, custody: Custody, clock: Clock) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    settings = ForwardingSettings(request_timeout_seconds=5, retry_lifetime_seconds=3600)
    forwarder = Forwarder(store=store, custody=custody,
                          institutions=lambda: {"alpha": _institution(down)},
                          settings=settings, on_finished=lambda: None)
    batch = _ready_batch(store, custody)
    delays = []
    while store.batch(batch.id).state is BatchState.READY:
        _step(forwarder)
        current = store.batch(batch.id)
        delays.append(current.next_attempt_at - clock.now)
        clock.now = max(clock.now, current.next_attempt_at) + 1
        assert len(delays) < 100, "never held"
    forwarder.close()
    held = store.batch(batch.id)
    assert held.state is BatchState.HELD
    assert "minutes of retries" in (held.reason or "")
    assert max(delays) > 4 * min(d for d in delays if d > 0)  # it backed off
    [notice] = store.notices()
    assert notice.batch_state is BatchState.HELD


def test_two_institutions_import_in_parallel_each_in_order(
        store: Store, spool: Spool, custody: Custody, clock: Clock) -> None:
    with CanvasSandbox(accounts={"1": SANDBOX_TOKEN, "2": "beta-token"},
                       processing_seconds=0.3) as canvas:
        alpha = _institution(canvas.base_url)
        beta = Institution(name="beta", username="beta", password_hash=None,
                           authorized_keys=(), report_to=(), report_cc=(),
                           canvas=CanvasTarget(canvas.base_url, "2", SecretStr("beta-token")))
        spool.create(["beta"])
        forwarder = Forwarder(store=store, custody=custody,
                              institutions=lambda: {"alpha": alpha, "beta": beta},
                              settings=ForwardingSettings(), on_finished=lambda: None)
        batches = [_ready_batch(store, custody, institution=name)
                   for name in ("alpha", "beta", "alpha", "beta")]
        _step(forwarder)
        # One step started for each institution at once: both first batches are importing.
        assert [store.batch(b.id).state for b in batches] == [
            BatchState.IMPORTING, BatchState.IMPORTING, BatchState.READY, BatchState.READY]
        for batch in batches:
            _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
        forwarder.close()
        for account, name in (("1", "alpha"), ("2", "beta")):
            mine = [store.batch(b.id).import_id for b in batches if b.institution == name]
            assert [i["id"] for i in canvas.imports(account)] == mine


def test_a_foreign_import_running_on_the_account_is_waited_for(
        forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    sandbox.processing_seconds = 1.0
    _post_raw(sandbox, USERS, "someone-else.csv")
    batch = _ready_batch(store, custody)
    _step(forwarder)
    assert store.batch(batch.id).state is BatchState.READY  # not posted behind it
    assert len(sandbox.imports("1")) == 1
    sandbox.processing_seconds = 0.1
    _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
    first, ours = sandbox.imports("1")
    assert first["ended_at"] is not None
    assert ours["id"] == store.batch(batch.id).import_id


POST_ONLY = ("POST",)
IMPORTS = r"/sis_imports$"


@pytest.mark.parametrize("faults", [
    Faults(errors=ErrorFault(count=2, statuses=(500,), methods=POST_ONLY, path=IMPORTS)),
    Faults(errors=ErrorFault(count=2, statuses=(502, 503, 504))),
    Faults(errors=ErrorFault(count=1, statuses=(500,), after=True, methods=POST_ONLY,
                             path=IMPORTS)),
    Faults(maintenance=MaintenanceFault(count=2, status=200)),
    Faults(maintenance=MaintenanceFault(count=2, status=503)),
    Faults(reset_before=RequestFault(count=2, methods=POST_ONLY, path=IMPORTS)),
    Faults(reset_after=RequestFault(count=1, methods=POST_ONLY, path=IMPORTS)),
    Faults(reset_after=RequestFault(count=2, methods=("GET",))),
], ids=["500-post", "5xx-html-any", "500-after-processing", "maintenance-200",
        "maintenance-503", "reset-before-post", "reset-after-post", "reset-after-get"])
def test_each_fault_class_ends_in_exactly_one_import(
        faults: Faults, forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    sandbox.faults = faults
    batch = _ready_batch(store, custody)
    done = _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
    assert [i["id"] for i in sandbox.imports("1")] == [done.import_id]
    assert sum(sandbox.faults_fired().values()) >= 1


@pytest.mark.parametrize("status", [403, 429])
def test_throttling_is_retried_not_held(status: int, forwarder: Forwarder, store: Store,
                                        custody: Custody, clock: Clock,
                                        sandbox: CanvasSandbox) -> None:
    # Every request costs more than the high-water mark: the second one is refused.
    sandbox.throttling = Throttling(request_cost=700.0, outflow=1.0, status=status)
    batch = _ready_batch(store, custody)
    _step(forwarder)
    _step(forwarder)
    throttled = store.batch(batch.id)
    assert throttled.state in (BatchState.READY, BatchState.DEFERRED, BatchState.IMPORTING)
    assert sandbox.throttled() >= 1
    assert f"throttled by Canvas ({status})" in (throttled.reason or "")
    sandbox.throttling = Throttling(enabled=False)
    _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
    assert len(sandbox.imports("1")) == 1


def test_an_overdue_import_alerts_ops_and_is_aborted_when_configured(
        store: Store, custody: Custody, clock: Clock, sandbox: CanvasSandbox) -> None:
    sandbox.faults = Faults(stuck=StuckFault(count=1))  # importing until aborted
    settings = ForwardingSettings(request_timeout_seconds=5, max_import_seconds=600,
                                  abort_after_max_wait=True)
    forwarder = Forwarder(store=store, custody=custody,
                          institutions=lambda: {"alpha": _institution(sandbox.base_url)},
                          settings=settings, on_finished=lambda: None)
    batch = _ready_batch(store, custody)
    _step(forwarder)
    _step(forwarder)
    assert store.batch(batch.id).state is BatchState.IMPORTING
    clock.now += 601
    done = _run_until(forwarder, store, clock, batch.id, {BatchState.FAILED})
    forwarder.close()
    assert done.canvas_state == "aborted"
    kinds = [(n.kind, n.batch_state) for n in store.notices()]
    assert ("ops_alert", BatchState.IMPORTING) in kinds
    assert ("batch_report", BatchState.FAILED) in kinds


def test_a_post_that_times_out_but_lands_later_is_adopted_not_repeated(
        make_store: StoreMaker, custody: Custody, sandbox: CanvasSandbox) -> None:
    # Real time here: the grace period must hold against Canvas's real latency.
    store = make_store(time.time)
    sandbox.faults = Faults(latency=LatencyFault(count=1, seconds=2.0, methods=POST_ONLY,
                                                 path=IMPORTS))
    settings = ForwardingSettings(request_timeout_seconds=1.0, reconcile_grace_seconds=3.0,
                                  poll_initial_seconds=0.1, poll_max_seconds=0.2)
    forwarder = Forwarder(store=store, custody=custody,
                          institutions=lambda: {"alpha": _institution(sandbox.base_url)},
                          settings=settings, on_finished=lambda: None)
    batch = _ready_batch(store, custody)
    deadline = time.monotonic() + 20
    while store.batch(batch.id).state is not BatchState.IMPORTED:
        assert time.monotonic() < deadline, store.batch(batch.id)
        _step(forwarder)
        time.sleep(0.05)
    forwarder.close()
    time.sleep(2.5)  # anything Canvas was still doing has landed by now
    assert [i["id"] for i in sandbox.imports("1")] == [store.batch(batch.id).import_id]


def test_the_retry_clock_restarts_when_a_request_succeeds(
        forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    sandbox.processing_seconds = 2.0
    batch = _ready_batch(store, custody)
    _step(forwarder)
    assert store.batch(batch.id).state is BatchState.IMPORTING
    with store.transaction() as txn:  # trouble a day ago, long over
        txn.update("batch", batch.id, BatchState.IMPORTING, trouble_since=clock.now - 86_000)
    clock.now += 60
    _step(forwarder)  # a poll that succeeds
    assert store.batch(batch.id).trouble_since is None
    sandbox.faults = Faults(errors=ErrorFault(count=1, statuses=(503,), methods=("GET",)))
    clock.now += 60
    _step(forwarder)  # one 503 now is one 503, not the 24th hour of trouble
    after = store.batch(batch.id)
    assert after.state is BatchState.IMPORTING
    assert after.trouble_since == clock.now


def test_a_refused_post_with_no_import_is_sent_again_after_the_grace_not_minutes(
        forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    sandbox.faults = Faults(errors=ErrorFault(count=1, statuses=(503,), methods=POST_ONLY,
                                              path=IMPORTS))
    batch = _ready_batch(store, custody)
    _step(forwarder)
    refused = store.batch(batch.id)
    assert refused.state is BatchState.SUBMITTING
    assert refused.post_settles_at == clock.now + 30  # the default grace after the answer
    clock.now = refused.next_attempt_at
    _step(forwarder)  # the first look: nothing in Canvas, look again when it settles
    waiting = store.batch(batch.id)
    assert waiting.next_attempt_at == refused.post_settles_at
    clock.now = waiting.next_attempt_at
    _step(forwarder)
    assert store.batch(batch.id).state is BatchState.READY
    done = _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
    assert done.attempts == 2
    assert [i["id"] for i in sandbox.imports("1")] == [done.import_id]


def test_a_late_import_of_an_earlier_attempt_alerts_ops(
        forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    batch = _ready_batch(store, custody)
    clock.now = time.time()
    _submitting(store, custody, batch)
    first_attempt = _read(custody, PayloadKey.batch_zip(batch.id))
    _step(forwarder)
    clock.now += 5 + 30 + 1  # nothing appeared in time: the gateway posts again
    _step(forwarder)
    assert store.batch(batch.id).state is BatchState.READY
    _post_raw(sandbox, first_attempt, upload_name(batch.id, 1))  # ...and then it lands
    done = _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
    late, ours = sandbox.imports("1")
    assert done.import_id == ours["id"]
    assert done.reconcile is not None
    assert done.reconcile["duplicates"] == [late["id"]]
    alerts = [n for n in store.notices() if n.kind == "duplicate_import"]
    assert len(alerts) == 1
    assert str(late["id"]) in (alerts[0].reason or "")


WARNED = b"user_id,login_id,status\nu1,l1,active\nu2,l2,sleeping\n"  # Improper status: a warning


def _forwarder_with(store: Store, custody: Custody, sandbox: CanvasSandbox,
                    **settings: float) -> Forwarder:
    return Forwarder(store=store, custody=custody,
                     institutions=lambda: {"alpha": _institution(sandbox.base_url)},
                     settings=ForwardingSettings(request_timeout_seconds=5, **settings),
                     on_finished=lambda: None)


def test_the_errors_file_canvas_writes_after_the_end_is_waited_for(
        store: Store, custody: Custody, clock: Clock, sandbox: CanvasSandbox) -> None:
    sandbox.errors_file_delay_seconds = 1.5
    forwarder = _forwarder_with(store, custody, sandbox, errors_file_wait_seconds=10**7)
    batch = _ready_batch(store, custody, body=WARNED)
    done = _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED_WITH_MESSAGES})
    forwarder.close()
    [imported] = sandbox.imports("1")
    assert imported["errors_attachment"]  # Canvas had not written it at the terminal state
    assert done.terminal_seen_at is not None
    assert done.errors_csv == PayloadKey.batch_errors(batch.id).name
    kept = _read(custody, PayloadKey.batch_errors(batch.id)).decode()
    assert kept.startswith("sis_import_id,file,message,row")
    assert "Improper status" in kept


def test_when_canvas_gives_no_errors_file_the_result_says_so(
        store: Store, custody: Custody, clock: Clock, sandbox: CanvasSandbox) -> None:
    sandbox.errors_file_delay_seconds = 3600.0
    forwarder = _forwarder_with(store, custody, sandbox, errors_file_wait_seconds=120)
    batch = _ready_batch(store, custody, body=WARNED)
    done = _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED_WITH_MESSAGES})
    forwarder.close()
    assert done.errors_csv == NO_ERRORS_FILE
    assert done.finished_at is not None
    assert done.terminal_seen_at is not None
    assert done.finished_at - done.terminal_seen_at >= 120
    assert custody.size(PayloadKey.batch_errors(batch.id)) is None


def test_a_batch_posted_before_attempts_were_recorded_is_held_not_reposted(
        forwarder: Forwarder, store: Store, custody: Custody, clock: Clock,
        sandbox: CanvasSandbox) -> None:
    # An older gateway left it SUBMITTING with no attempt identity, its zip's members under
    # their own names: an import carrying them cannot be told from another system's.
    batch = _ready_batch(store, custody)
    clock.now = time.time()
    with store.transaction() as txn:
        txn.move("batch", batch.id, BatchState.READY, BatchState.SUBMITTING,
                 submitted_at=txn.now, attempts=1)
    _post_raw(sandbox, _read(custody, PayloadKey.batch_zip(batch.id)),
              "alpha-batch-1.zip")
    held = _run_until(forwarder, store, clock, batch.id, {BatchState.HELD})
    assert "before attempts were recorded" in (held.reason or "")
    assert len(sandbox.imports("1")) == 1


def test_a_requeued_batch_keeps_the_errors_file_of_its_new_import_not_the_old_one(
        store: Store, custody: Custody, clock: Clock, sandbox: CanvasSandbox) -> None:
    forwarder = _forwarder_with(store, custody, sandbox, errors_file_wait_seconds=10**7)
    batch = _ready_batch(store, custody, body=b"not,a,canvas,header\n1,2,3,4\n")
    failed = _run_until(forwarder, store, clock, batch.id, {BatchState.FAILED})
    assert f"{failed.import_id}," in _read(custody, PayloadKey.batch_errors(batch.id)).decode()
    requeue(store, custody, failed)
    _put_zip(custody, batch.id, "b000001-a1-users.csv", WARNED)  # the vendor's fixed file
    done = _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED_WITH_MESSAGES})
    forwarder.close()
    assert done.import_id != failed.import_id
    kept = _read(custody, PayloadKey.batch_errors(batch.id)).decode()
    assert f"\n{done.import_id}," in kept
    assert f"\n{failed.import_id}," not in kept


def test_institutions_sharing_an_account_take_turns_with_a_bounded_number_of_requests(
        store: Store, spool: Spool, custody: Custody, clock: Clock) -> None:
    """Thirty institutions post to one Canvas account: each batch waits for the others'
    imports without asking Canvas (woken when the turn is its), so the requests per import
    stay a small constant instead of growing with the institutions sharing the account."""
    names = [f"inst{number:02d}" for number in range(30)]
    with CanvasSandbox(accounts={"1": SANDBOX_TOKEN}, processing_seconds=0.05,
                       errors_file_delay_seconds=0) as canvas:
        spool.create(names)
        sharing = {name: Institution(
            name=name, username=name, password_hash=None, authorized_keys=(), report_to=(),
            report_cc=(), canvas=CanvasTarget(canvas.base_url, "1", SecretStr(SANDBOX_TOKEN)))
            for name in names}
        forwarder = Forwarder(store=store, custody=custody,
                              institutions=lambda: sharing,
                              settings=ForwardingSettings(), on_finished=lambda: None)
        batches = [_ready_batch(store, custody, institution=name) for name in names]
        try:
            for batch in batches:
                _run_until(forwarder, store, clock, batch.id, {BatchState.IMPORTED})
        finally:
            forwarder.close()
        imports = canvas.imports("1")
        assert len(imports) == len(names)  # each batch once
        ended = sorted((i["created_at"], i["ended_at"]) for i in imports)
        assert all(ended[n][1] <= ended[n + 1][0] for n in range(len(ended) - 1))  # one at a time
        asked = canvas.requests()
        per_import = sum(asked.values()) / len(names)
        assert asked.get("GET list", 0) <= 2 * len(names), asked  # not 30 x 30
        assert per_import <= 8, asked
