"""Hostile and careless uploads through the running gateway, with real SFTP clients: every
upload ends received-and-reported or refused with a reason, nothing stalls the institution,
and a temp-named file never renamed is reported to its sender."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from gateway.sandbox.server import CanvasSandbox
from gateway.state.spool import Spool
from gateway.state.states import FINISHED_BATCH_STATES, BatchState, UploadState
from tests.hostile_files import (
    EMPTY_DELIVERIES,
    STALLERS,
    USERS,
    ZIP_PASSWORD,
    csv_mutants,
    mutants,
)
from tests.integration.gateway_process import Account, GatewayProcess, wait_for
from tests.integration.sftp_clients import paramiko_session

MUTANTS = 40
GOOD = b"user_id,login_id,status\ngood1,good1,active\n"


def _uploads(gateway: GatewayProcess, account: Account, files: dict[str, bytes]) -> None:
    """Upload ``files`` in order in one paramiko session."""
    client, sftp = paramiko_session(gateway.sftp_port, account)
    try:
        for name, data in files.items():
            with sftp.open(f"/inbox/{name}", "wb") as handle:
                handle.write(data)
    finally:
        sftp.close()
        client.close()


def _final_report(path: Path) -> bool:
    """True once the report at ``path`` is a batch's last (not its receipt)."""
    return path.exists() and json.loads(path.read_text())["outcome"] in (
        "imported", "imported_with_messages", "rejected")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_fuzzed_uploads_through_the_gateway_each_end_reported_and_the_next_imports(
        gateway: GatewayProcess, sandbox: CanvasSandbox, alpha: Account) -> None:
    gateway.env["FUZZ_ZIP_PASSWORD"] = ZIP_PASSWORD.decode()
    gateway.intake_options["alpha"] = ["[institutions.alpha.sorting]",
                                       'zip_password_env = "FUZZ_ZIP_PASSWORD"']
    gateway.start()
    files = {name: build() for name, build in {**STALLERS, **EMPTY_DELIVERIES}.items()}
    files |= {f"mutant-{n:03d}.zip": data for n, data in enumerate(mutants(MUTANTS, seed=11))}
    files |= {f"mutant-{n:03d}.csv": data
              for n, data in enumerate(csv_mutants(MUTANTS, seed=12))}
    files["users.csv"] = GOOD  # the institution's next good upload, after all of them
    _uploads(gateway, alpha, files)

    store = gateway.store()
    good = wait_for(lambda: [u for u in store.uploads(institution="alpha")
                             if u.filename == "users.csv" and u.batch_id], 60, "good upload")
    good_batch = good[0].batch_id or 0
    wait_for(lambda: store.batch(good_batch).state in FINISHED_BATCH_STATES, 120,
             "the good upload's import")
    # Imported (with the warnings of the accepted mutants merged into its users file).
    assert store.batch(good_batch).state in (BatchState.IMPORTED,
                                             BatchState.IMPORTED_WITH_MESSAGES)
    assert store.upload(good[0].id).state is UploadState.ACCEPTED

    uploads = store.uploads(institution="alpha")
    assert len(uploads) == len(files)
    for upload in uploads:  # exactly one of: accepted (and imported), or refused with why
        if upload.state is UploadState.REJECTED:
            assert upload.problem, upload.filename
        else:
            assert upload.state is UploadState.ACCEPTED, upload.filename
    rejected = {u.filename for u in uploads if u.state is UploadState.REJECTED}
    assert set(STALLERS) | set(EMPTY_DELIVERIES) <= rejected
    batches = store.batches(institution="alpha")
    assert all(b.state in FINISHED_BATCH_STATES for b in batches)
    reports = Spool(gateway.data_dir).reports("alpha")
    for batch in batches:  # every batch's sender got its final report
        wait_for(partial(_final_report, reports / f"{batch.reference}.result.json"), 30,
                 f"final report of {batch.reference}")
    imported = sandbox.imports("1")
    assert len(imported) == sum(1 for b in batches if b.import_id is not None)
    assert "Traceback" not in gateway.logs()
    print(f"fuzz through the gateway: {len(files)} uploads, {len(rejected)} refused with a "
          f"reason, {len(files) - len(rejected)} accepted, {len(batches)} batches reported, "
          f"{len(imported)} Canvas imports")


def test_a_temp_named_file_never_renamed_is_reported_to_its_sender(
        gateway: GatewayProcess, alpha: Account) -> None:
    gateway.start()
    _uploads(gateway, alpha, {"users.csv.part": USERS, ".courses.csv": b"x"})  # never renamed
    status_file = Spool(gateway.data_dir).reports("alpha") / "status.json"

    def both_told() -> dict[str, dict[str, Any]]:
        # status.json is rewritten after each discard: wait for the one that tells both.
        text = _read(status_file)
        listed = {item["file"]: item for item in json.loads(text)["not_received"]} \
            if text else {}
        return listed if len(listed) >= 2 else {}

    dropped = wait_for(both_told, 30, "status.json naming both files")
    assert set(dropped) == {"users.csv.part", ".courses.csv"}
    assert "never renamed to a final name" in dropped["users.csv.part"]["reason"]
    assert dropped["users.csv.part"]["size"] == len(USERS)

    _uploads(gateway, alpha, {"users.csv": GOOD})
    receipt = status_file.parent / "batch-000001.receipt.txt"
    text = wait_for(partial(_read, receipt), 30, "the receipt")
    assert "Not received: users.csv.part" in text
    assert "Not received: .courses.csv" in text
    assert "Traceback" not in gateway.logs()
