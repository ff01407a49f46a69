"""A fault matrix: 100 batches over 5 institutions through a Canvas that misbehaves on
purpose (5xx, resets after processing, throttling, failed imports).  Every batch must end
imported exactly once, or stopped with a reason; each institution's order must hold.  Once
on one machine (SQLite, the local spool), once as a cluster node (PostgreSQL, S3)."""

from __future__ import annotations

import io
import time
import zipfile

from pydantic import SecretStr

from gateway.forwarding.forwarder import Forwarder
from gateway.institutions import CanvasTarget, Institution
from gateway.ops.operator import skip
from gateway.sandbox import ErrorFault, Faults, OutcomeFault, RequestFault, Throttling
from gateway.sandbox.server import CanvasSandbox
from gateway.settings import ForwardingSettings
from gateway.state.custody import Custody, PayloadKey
from gateway.state.states import FINISHED_BATCH_STATES, BatchState
from gateway.state.store import Store
from tests.conftest import StoreMaker

INSTITUTIONS = [f"inst{n}" for n in range(1, 6)]
BATCHES_EACH = 20
SETTINGS = ForwardingSettings(workers=5, request_timeout_seconds=5, poll_initial_seconds=0.05,
                              poll_max_seconds=0.2, retry_initial_seconds=0.05,
                              retry_max_seconds=0.3, reconcile_grace_seconds=0.3)
FAULTS = Faults(
    seed=20261122,
    errors=ErrorFault(rate=0.2, statuses=(500, 502, 503)),
    reset_after=RequestFault(rate=0.1),
    outcome=OutcomeFault(rate=0.05, state="failed_with_messages"),
)
# Each request costs enough that parallel institutions drain the bucket in bursts.
THROTTLING = Throttling(request_cost=40.0, outflow=200.0)


def _institution(name: str, account: str, base_url: str) -> Institution:
    return Institution(name=name, username=name, password_hash=None, authorized_keys=(),
                       report_to=(), report_cc=(),
                       canvas=CanvasTarget(base_url, account, SecretStr(f"token-{account}")))


def _queue(store: Store, custody: Custody) -> None:
    """20 ready batches per institution, interleaved."""
    for number in range(BATCHES_EACH):
        for name in INSTITUTIONS:
            with store.transaction() as txn:
                batch_id = txn.create_batch(name)
                txn.move("batch", batch_id, BatchState.OPEN, BatchState.READY)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("users.csv", f"user_id,login_id,status\n{name}-{number},"
                                              f"l{number},active\n")
            custody.put(PayloadKey.batch_zip(batch_id), buffer.getvalue())


def _operator_round(store: Store, stopped: dict[int, str]) -> None:
    """What an operator would do: note why a queue stopped, then let it go on."""
    for name in INSTITUTIONS:
        head = store.head_batch(name, FINISHED_BATCH_STATES)
        if head is not None and head.state in (BatchState.FAILED, BatchState.HELD):
            assert head.reason, f"batch {head.id} stopped without a reason"
            stopped[head.id] = f"{head.state}: {head.reason}"
            skip(store, head)


def _run(forwarder: Forwarder, store: Store, deadline: float) -> dict[int, str]:
    stopped: dict[int, str] = {}
    while time.monotonic() < deadline:
        forwarder.step()
        forwarder.drain()
        _operator_round(store, stopped)
        if all(b.state in FINISHED_BATCH_STATES for b in store.batches()):
            return stopped
        time.sleep(0.02)
    unfinished = [(b.id, b.state) for b in store.batches()
                  if b.state not in FINISHED_BATCH_STATES]
    raise AssertionError(f"not finished in time: {unfinished[:10]}")


def test_every_batch_imported_once_or_stopped_with_a_reason_in_order(
        make_store: StoreMaker, paired_custody: Custody) -> None:
    store, custody = make_store(time.time), paired_custody
    accounts = {str(n): f"token-{n}" for n in range(1, 6)}
    with CanvasSandbox(accounts=accounts, processing_seconds=0.05, faults=FAULTS,
                       throttling=THROTTLING) as canvas:
        institutions = {name: _institution(name, str(n), canvas.base_url)
                        for n, name in enumerate(INSTITUTIONS, start=1)}
        _queue(store, custody)
        forwarder = Forwarder(store=store, custody=custody,
                              institutions=lambda: institutions,
                              settings=SETTINGS, on_finished=lambda: None)
        try:
            stopped = _run(forwarder, store, time.monotonic() + 240)
        finally:
            forwarder.close()
        fired = canvas.faults_fired()
        throttled = canvas.throttled()
        imports = {account: canvas.imports(account) for account in accounts}
        payloads = {account: canvas.payloads(account) for account in accounts}

    # The matrix really exercised every fault class.
    assert fired.get("errors", 0) > 0, fired
    assert fired.get("reset_after", 0) > 0, fired
    assert fired.get("outcome", 0) > 0, fired
    assert throttled > 0, "no request was throttled"

    batches = {b.id: b for b in store.batches()}
    # ~5 forced failures are expected; a flood of stops would mean the gateway gave up.
    assert 0 < len(stopped) <= 15, stopped
    for batch in batches.values():
        assert batch.state is BatchState.IMPORTED or batch.id in stopped, batch
    for account, name in zip(accounts, INSTITUTIONS, strict=True):
        posted = [(item, _posted(payload))
                  for item, payload in zip(imports[account], payloads[account], strict=True)]
        done = [batch_id for item, (batch_id, _) in posted if item["workflow_state"] == "imported"]
        assert len(done) == len(set(done)), "a batch was imported twice"
        assert done == sorted(done), f"{name} imported out of order"
        mine = sorted(b.id for b in batches.values()
                      if b.institution == name and b.state is BatchState.IMPORTED)
        assert done == mine
        for item, (batch_id, attempt) in posted:
            if item["workflow_state"] == "imported":
                # Canvas lists the extracted CSVs under the attempt's names.
                assert attempt == batches[batch_id].attempts
                assert [a["filename"] for a in item["csv_attachments"]] == \
                    [f"b{batch_id:06d}-a{attempt}-users.csv"]
                with custody.open(PayloadKey.batch_zip(batch_id)) as kept:
                    assert payloads[account][imports[account].index(item)] == kept.read()


def _posted(payload: bytes) -> tuple[int, int]:
    """The batch and attempt a posted zip belongs to, from its member names."""
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        [member] = archive.namelist()
    batch, attempt = member.split("-")[:2]
    return int(batch[1:]), int(attempt[1:])
