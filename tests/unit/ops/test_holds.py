"""`gateway hold` and `gateway release INSTITUTION`: stopping a queue on purpose, and back."""

from __future__ import annotations

import json

import pytest

from gateway.ops.cli import main
from gateway.ops.holds import hold_batch
from gateway.ops.operator import OperatorError
from gateway.state.custody import PayloadKey
from gateway.state.spool import Spool
from gateway.state.states import BatchState
from gateway.state.store import Store
from tests.spooled import spooled
from tests.unit.daemon_stand_in import running_on
from tests.unit.history import TO_IMPORTING, batch_of, received

pytestmark = pytest.mark.usefixtures("commands_store")  # the store --data opens


def _cli(spool: Spool, *args: str) -> int:
    return main([*args, "--data", str(spool.root)])


def test_institution_hold_shows_in_status_and_release_lifts_it(
        store: Store, spool: Spool, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(spool, "hold", "demo", "--reason", "term rollover") == 0
    assert "held (term rollover)" in capsys.readouterr().out
    with running_on(spool.root):
        assert _cli(spool, "status", "--json") == 1
        [row] = json.loads(capsys.readouterr().out)
        assert row["on_hold"]["reason"] == "term rollover"
        assert _cli(spool, "status") == 1
        assert "queue held since" in capsys.readouterr().out
    assert _cli(spool, "hold", "demo") == 1
    assert "already held (term rollover)" in capsys.readouterr().err

    assert _cli(spool, "release", "demo") == 0
    assert "institution demo: hold lifted" in capsys.readouterr().out
    assert store.institution_holds() == {}
    assert _cli(spool, "release", "demo") == 1
    assert "is not held and has no held or failed batch" in capsys.readouterr().err


def test_unknown_institution_cannot_be_held(spool: Spool, store: Store,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(spool, "hold", "nobody") == 1
    assert "there is no institution 'nobody' (configured: demo)" in capsys.readouterr().err
    assert store.institution_holds() == {}


@pytest.mark.parametrize("command", [["release", "nobody"], ["hold", "nobody"],
                                     ["release", "999"], ["hold", "999"], ["skip", "999"],
                                     ["requeue", "999"], ["show", "999"], ["reject", "999",
                                                                           "--reason", "x"]])
def test_unknown_names_get_one_wording(spool: Spool, store: Store, command: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(spool, *command) == 1
    kind = {"reject": "upload"}.get(command[0], "batch")
    expected = "there is no institution 'nobody' (configured: demo)" \
        if command[1] == "nobody" else f"there is no {kind} 999"
    assert capsys.readouterr().err == f"gateway: {expected}\n"


def _park_and_release(spool: Spool, batch: int,
                      capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Park ``batch``, hold alpha, release alpha: the lines it prints."""
    assert _cli(spool, "hold", str(batch), "--reason", "wrong term") == 0
    assert _cli(spool, "hold", "alpha") == 0
    capsys.readouterr()
    assert _cli(spool, "release", "alpha") == 0
    return capsys.readouterr().out.splitlines()


def _stays_held(batch: int) -> str:
    return (f"batch {batch} (alpha) stays held: parked with `gateway hold {batch}` (operator: "
            f"wrong term); `gateway release {batch}` lets it go")


def test_release_institution_never_unparks_a_batch_held_on_purpose(
        store: Store, spool: Spool, capsys: pytest.CaptureFixture[str]) -> None:
    batch = batch_of(store, [received(store, spool, "alpha", "users.csv")],
                     (BatchState.READY,))
    spooled(spool, PayloadKey.batch_zip(batch)).write_bytes(b"PK")
    assert _park_and_release(spool, batch, capsys) == [
        "institution alpha: hold lifted", _stays_held(batch)]
    assert store.batch(batch).state is BatchState.HELD
    assert _cli(spool, "release", "alpha") == 1  # nothing else to release
    assert "stays held" in capsys.readouterr().err
    assert _cli(spool, "release", str(batch)) == 0
    assert capsys.readouterr().out == f"batch {batch} (alpha): held -> ready\n"
    assert store.batch(batch).state is BatchState.READY


def test_release_institution_says_which_later_batch_stays_parked(
        store: Store, spool: Spool, capsys: pytest.CaptureFixture[str]) -> None:
    batch_of(store, [received(store, spool, "alpha", "users.csv")], TO_IMPORTING)
    parked = batch_of(store, [received(store, spool, "alpha", "courses.csv")],
                      (BatchState.READY,))
    assert _park_and_release(spool, parked, capsys) == [
        "institution alpha: hold lifted", _stays_held(parked)]
    assert store.batch(parked).state is BatchState.HELD


def test_release_institution_releases_a_batch_the_gateway_held(
        store: Store, spool: Spool, capsys: pytest.CaptureFixture[str]) -> None:
    batch = batch_of(store, [received(store, spool, "alpha", "users.csv")],
                     (BatchState.READY,))
    spooled(spool, PayloadKey.batch_zip(batch)).write_bytes(b"PK")
    with store.transaction() as txn:
        txn.move("batch", batch, BatchState.READY, BatchState.HELD, reason="Canvas said 401")
    assert _cli(spool, "release", "alpha") == 0
    assert capsys.readouterr().out == f"batch {batch} (alpha): held -> ready\n"


def test_only_unsent_batches_can_be_held(store: Store, spool: Spool,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    importing = batch_of(store, [received(store, spool, "alpha", "users.csv")], TO_IMPORTING)
    assert _cli(spool, "hold", str(importing)) == 1
    assert "`gateway hold alpha`" in capsys.readouterr().err
    assert store.batch(importing).state is BatchState.IMPORTING
    assert _cli(spool, "hold", "999") == 1
    assert "there is no batch 999" in capsys.readouterr().err


def test_holding_a_batch_the_forwarder_just_took_changes_nothing(store: Store,
                                                                  spool: Spool) -> None:
    ready = batch_of(store, [received(store, spool, "alpha", "users.csv")], (BatchState.READY,))
    stale = store.batch(ready)
    with store.transaction() as txn:  # the forwarder wins the race
        txn.move("batch", ready, BatchState.READY, BatchState.SUBMITTING)
    with pytest.raises(OperatorError, match="changed meanwhile"):
        hold_batch(store, stale, "too late")
    assert store.batch(ready).state is BatchState.SUBMITTING
