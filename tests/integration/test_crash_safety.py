"""SIGKILL the real daemon mid-flow, restart it on the same data: nothing lost, nothing twice,
order kept, one report per batch."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path

import requests

from gateway.sandbox import ErrorFault, Faults, LatencyFault, RequestFault
from gateway.sandbox.server import CanvasSandbox
from gateway.sorting.identity import bare_name
from gateway.state.records import BatchRecord
from gateway.state.states import BatchState
from tests.integration.conftest import SANDBOX_TOKEN
from tests.integration.gateway_process import REPO, Account, GatewayProcess, wait_for
from tests.integration.mail_server import Collector
from tests.integration.sftp_clients import openssh_put

SAMPLES = REPO / "config" / "samples"


def _members(payload: bytes) -> dict[str, bytes]:
    """A posted zip's members by their own names (the batch and attempt prefix dropped)."""
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return {bare_name(name): archive.read(name) for name in archive.namelist()}


def _our_payloads(sandbox: CanvasSandbox) -> list[dict[str, bytes]]:
    """The zips the gateway posted (foreign test imports are raw CSV bodies)."""
    return [_members(p) for p in sandbox.payloads("1") if p.startswith(b"PK")]


def _report_subjects(mailbox: tuple[Collector, int]) -> Counter[str]:
    subjects = []
    for message in mailbox[0].messages:
        for line in message.content.split(b"\r\n"):
            if line.startswith(b"Subject:"):
                subjects.append(line.decode())
    return Counter(subjects)


def _last_verdict(gateway: GatewayProcess) -> str | None:
    """The verdict of the only batch's last reconcile, if any."""
    batches = gateway.store().batches()
    return str(batches[0].reconcile.get("verdict")) if batches and batches[0].reconcile \
        else None


def _restarted_and_adopted(gateway: GatewayProcess, sandbox: CanvasSandbox,
                           mailbox: tuple[Collector, int]) -> BatchRecord:
    """Start the killed gateway again; its one batch must end in Canvas's one import, with
    one receipt and one result."""
    gateway.start()
    wait_for(lambda: _all_done(gateway, 1), 30, "the adopted import to finish")
    [imported] = sandbox.imports("1")
    [batch] = gateway.store().batches()
    assert batch.import_id == imported["id"]
    wait_for(lambda: len(mailbox[0].messages) >= 2, 15, "the receipt and the result")
    assert sorted(_report_subjects(mailbox).values()) == [1, 1]
    return batch


def _all_done(gateway: GatewayProcess, batches: int) -> bool:
    found = gateway.store().batches()
    return len(found) == batches and all(
        b.state in (BatchState.IMPORTED, BatchState.IMPORTED_WITH_MESSAGES) for b in found)


def test_kill_right_after_upload_close_loses_nothing_and_keeps_order(
        deployed: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    gateway = deployed  # on one machine and as a cluster node
    gateway.quiet_seconds = 2.0  # the kill lands well before the batch is formed
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    gateway.kill()
    assert gateway.store().batches() == []  # acknowledged, not yet batched

    gateway.start()
    wait_for(lambda: _all_done(gateway, 1), 30, "the first batch to import")
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "enrollments.csv"])
    wait_for(lambda: _all_done(gateway, 2), 30, "the second batch to import")
    wait_for(lambda: len(mailbox[0].messages) >= 4, 15, "a receipt and a result per batch")

    assert _our_payloads(sandbox) == [
        {"users.csv": (SAMPLES / "users.csv").read_bytes()},
        {"enrollments.csv": (SAMPLES / "enrollments.csv").read_bytes()},
    ]
    assert sorted(_report_subjects(mailbox).values()) == [1, 1, 1, 1]


def test_kill_after_batch_formed_before_post_posts_exactly_once(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    # Another system's import is running on the account, so the gateway must wait with
    # its batch READY: that is the moment to kill it.
    sandbox.processing_seconds = 6.0
    foreign = requests.post(f"{sandbox.base_url}/api/v1/accounts/1/sis_imports",
                            params={"extension": "csv"},
                            headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
                            data=(SAMPLES / "courses.csv").read_bytes(), timeout=10)
    assert foreign.status_code == 200
    wait_for(lambda: sandbox.imports("1")[0]["workflow_state"] == "importing", 10,
             "the foreign import to start")
    sandbox.processing_seconds = 0.3

    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    wait_for(lambda: [b.state for b in gateway.store().batches()] == [BatchState.READY], 15,
             "the batch to be formed and waiting")
    gateway.kill()
    assert len(sandbox.imports("1")) == 1  # only the foreign one

    gateway.start()
    wait_for(lambda: _all_done(gateway, 1), 30, "the batch to import after restart")
    wait_for(lambda: len(mailbox[0].messages) >= 2, 15, "the receipt and the result")
    imports = sandbox.imports("1")
    assert len(imports) == 2
    assert _our_payloads(sandbox) == [{"users.csv": (SAMPLES / "users.csv").read_bytes()}]
    assert list(_report_subjects(mailbox).values()) == [1, 1]


def test_kill_while_polling_resumes_without_reposting(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account, tmp_path: Path) -> None:
    sandbox.processing_seconds = 4.0
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv", SAMPLES / "courses.csv"])
    batch = wait_for(lambda: [b for b in gateway.store().batches()
                              if b.state is BatchState.IMPORTING], 15, "the import to run")[0]
    gateway.kill()

    gateway.start()
    wait_for(lambda: _all_done(gateway, 1), 30, "the import to finish after restart")
    wait_for(lambda: len(mailbox[0].messages) >= 2, 15, "the receipt and the result")
    [imported] = sandbox.imports("1")
    assert imported["id"] == batch.import_id
    assert gateway.store().batch(batch.id).import_id == batch.import_id
    subjects = _report_subjects(mailbox)
    assert list(subjects.values()) == [1, 1]
    assert any(f"Canvas import {batch.import_id}" in subject and "[Imported]" in subject
               for subject in subjects)
    assert gateway.stop() == 0


def test_kill_while_the_post_is_in_flight_ends_in_exactly_one_import(
        deployed: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    gateway = deployed  # on one machine and as a cluster node
    # Canvas takes 3 s to answer the POST and the gateway dies while it waits.  Whether or
    # not the request reached Canvas before the kill, the restarted gateway must end with
    # exactly one import of the batch: the one Canvas made (adopted by its files' names),
    # or, when none can still appear, a second POST.
    sandbox.faults = Faults(latency=LatencyFault(seconds=3.0, count=1, methods=("POST",),
                                                 path=r"/sis_imports$"))
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    wait_for(lambda: [b.state for b in gateway.store().batches()] ==
             [BatchState.SUBMITTING], 15, "the POST to be under way")
    gateway.kill()

    gateway.start()
    wait_for(lambda: _all_done(gateway, 1), 40, "the batch to be imported")
    [imported] = sandbox.imports("1")
    [batch] = gateway.store().batches()
    assert batch.import_id == imported["id"]
    assert _our_payloads(sandbox) == [{"users.csv": (SAMPLES / "users.csv").read_bytes()}]
    wait_for(lambda: len(mailbox[0].messages) >= 2, 15, "the receipt and the result")
    assert sorted(_report_subjects(mailbox).values()) == [1, 1]


def test_kill_while_an_unanswered_import_is_still_created_waits_for_it_then_adopts_it(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    # The POST reaches Canvas but its answer is lost, and Canvas starts the import only
    # 6 s later (sis_batch_process_start_delay): while it is `created` it shows no file, so
    # the gateway waits for it, past the grace, instead of posting again.  It dies then.
    sandbox.start_delay_seconds = 6.0
    sandbox.faults = Faults(reset_after=RequestFault(count=1, methods=("POST",),
                                                     path=r"/sis_imports$"))
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    wait_for(lambda: _last_verdict(gateway) == "wait", 15,
             "the gateway to find the import created and wait for it")
    [created] = sandbox.imports("1")
    assert created["workflow_state"] == "created"
    assert "csv_attachments" not in created
    gateway.kill()

    batch = _restarted_and_adopted(gateway, sandbox, mailbox)
    assert batch.import_id == created["id"]
    assert batch.attempts == 1


def test_kill_while_an_unanswered_import_is_still_running_adopts_it(
        gateway: GatewayProcess, sandbox: CanvasSandbox, mailbox: tuple[Collector, int],
        alpha: Account) -> None:
    # The POST reaches Canvas but its answer is lost (connection reset after the import was
    # made); a small import shows its files only at its end, so the gateway is waiting for
    # it when it dies.  After the restart it must adopt that import, not post again.
    sandbox.processing_seconds = 4.0
    sandbox.faults = Faults(reset_after=RequestFault(count=1, methods=("POST",),
                                                     path=r"/sis_imports$"))
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    wait_for(lambda: sandbox.imports("1") and
             sandbox.imports("1")[0]["workflow_state"] == "importing", 15,
             "Canvas to import the unanswered POST")
    [waiting] = gateway.store().batches()
    assert waiting.state is BatchState.SUBMITTING
    gateway.kill()

    batch = _restarted_and_adopted(gateway, sandbox, mailbox)
    assert batch.reconcile is not None
    assert batch.reconcile["verdict"] == "adopt"


def test_clean_restarts_while_canvas_is_down_hold_nothing(
        gateway: GatewayProcess, sandbox: CanvasSandbox, alpha: Account) -> None:
    # Canvas answers every POST 503 (no import made); four clean restarts on the way must
    # not count as interruptions: the batch is posted once Canvas answers again.
    sandbox.faults = Faults(errors=ErrorFault(rate=1.0, statuses=(503,), methods=("POST",)))
    gateway.start()
    openssh_put(gateway.sftp_port, alpha, [SAMPLES / "users.csv"])
    wait_for(lambda: [b.state for b in gateway.store().batches()] in
             ([BatchState.SUBMITTING], [BatchState.DEFERRED]), 15, "the first refused POST")
    for _ in range(4):
        assert gateway.stop() == 0
        gateway.start()
    sandbox.faults = Faults()
    wait_for(lambda: _all_done(gateway, 1), 40, "the batch to be imported")
    [batch] = gateway.store().batches()
    assert batch.recoveries == 0
    assert len(sandbox.imports("1")) == 1
