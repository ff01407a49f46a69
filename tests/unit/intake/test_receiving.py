"""Receiver: a failed or broken upload is never received; any completion failure is logged
and answered with a clear error; password checks cannot hold up completions."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, cast

import asyncssh
import pytest

from gateway.intake.config import IntakeOptions
from gateway.intake.passwords import PasswordChecker
from gateway.intake.receiving import Receiver
from gateway.intake.session import IntakeServices, UploadSession
from gateway.intake.sftp import InstitutionSFTPServer
from gateway.intake.uploads import UploadWriter
from gateway.state.custody import Area, Custody, upload_key
from gateway.state.database import StoreUnavailable
from gateway.state.local_shelf import LocalShelf
from gateway.state.s3_custody import S3Custody
from gateway.state.spool import Spool
from gateway.state.store import Store
from tests.s3_server import S3Server


@pytest.fixture
def receiver(store: Store, spool: Spool, custody: Custody) -> Iterator[Receiver]:
    """A receiver on each store backend and each custody."""
    received = Receiver(store, spool, custody=custody, on_received=lambda: None)
    yield received
    received.close()


def _writer(receiver: Receiver, data: bytes) -> UploadWriter:
    writer = receiver.begin("alpha", IntakeOptions(), "users.csv")
    writer.write(0, data)
    return writer


def test_a_clean_upload_is_received_durably(receiver: Receiver) -> None:
    writer = _writer(receiver, b"user_id\n")
    upload_id = asyncio.run(receiver.receive(writer, "users.csv"))
    upload = receiver.store.upload(upload_id)
    with receiver.custody.open(upload_key(upload)) as kept:
        assert kept.read() == b"user_id\n"
    assert receiver.uploads_open("alpha") == 0
    assert not any(receiver.spool.incoming.iterdir())


def test_a_failed_writer_is_discarded_at_close(receiver: Receiver) -> None:
    writer = _writer(receiver, b"user_id\n")
    writer.failure = "users.csv: the gateway could not write this upload (No space left)"
    with pytest.raises(asyncssh.SFTPFailure, match="could not write this upload"):
        asyncio.run(receiver.receive(writer, "users.csv"))
    assert receiver.store.uploads() == []
    assert not any(receiver.spool.incoming.iterdir())


def test_a_database_error_is_logged_and_answered_clearly(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    @contextmanager
    def locked() -> Iterator[Any]:
        raise sqlite3.OperationalError("database is locked")
        yield

    monkeypatch.setattr(receiver.store, "transaction", locked)
    writer = _writer(receiver, b"user_id\n")
    with caplog.at_level(logging.ERROR), \
            pytest.raises(asyncssh.SFTPFailure, match="nothing was received"):
        asyncio.run(receiver.receive(writer, "users.csv"))
    assert "database is locked" in caplog.text
    assert not any(receiver.spool.incoming.iterdir())
    # Put before the record, removed when the record failed: no orphan is left behind.
    assert list(receiver.custody.keys(Area.UPLOADS)) == []


def test_a_commit_that_landed_though_reported_failed_is_received(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL commits, then the connection drops before the answer: the record exists,
    # so its payload must stay and the client is told the upload was received.
    committing = receiver.store.transaction

    @contextmanager
    def lost_answer() -> Iterator[Any]:
        with committing() as txn:
            yield txn
        raise StoreUnavailable("server closed the connection unexpectedly")

    monkeypatch.setattr(receiver.store, "transaction", lost_answer)
    writer = _writer(receiver, b"user_id\n")
    upload_id = asyncio.run(receiver.receive(writer, "users.csv"))
    upload = receiver.store.upload(upload_id)
    with receiver.custody.open(upload_key(upload)) as kept:
        assert kept.read() == b"user_id\n"


def test_an_unknowable_outcome_keeps_the_payload_for_recovery(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def gone() -> Iterator[Any]:
        raise StoreUnavailable("connection refused")
        yield

    def unreachable(name: str) -> None:
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(receiver.store, "transaction", gone)
    monkeypatch.setattr(receiver.store, "upload_by_payload", unreachable)
    writer = _writer(receiver, b"user_id\n")
    with pytest.raises(asyncssh.SFTPFailure, match="nothing was received"):
        asyncio.run(receiver.receive(writer, "users.csv"))
    # Not deleted on doubt: recovery's orphan rule sets it aside if no record names it.
    assert len(list(receiver.custody.keys(Area.UPLOADS))) == 1


def test_a_custody_failure_is_answered_clearly_and_records_nothing(
        store: Store, spool: Spool, s3_server: S3Server,
        caplog: pytest.LogCaptureFixture) -> None:
    unusable = S3Custody(s3_server.client(), bucket="no-such-bucket-here", prefix="",
                         scratch=spool.root / "scratch",
                         secrets_to_hide=(s3_server.access_key, s3_server.secret_key))
    receiver = Receiver(store, spool, custody=unusable,
                        on_received=lambda: None)
    try:
        writer = _writer(receiver, b"user_id\n")
        with caplog.at_level(logging.ERROR), \
                pytest.raises(asyncssh.SFTPFailure, match="could not store this upload"):
            asyncio.run(receiver.receive(writer, "users.csv"))
        assert receiver.store.uploads() == []
        assert not any(receiver.spool.incoming.iterdir())
        [line] = [record for record in caplog.records if record.levelno == logging.ERROR]
        assert "in s3://no-such-bucket-here/: NoSuchBucket" in line.__dict__["error"]
        assert s3_server.secret_key not in line.__dict__["error"]
    finally:
        receiver.close()


def test_password_checks_cannot_delay_completions(receiver: Receiver,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr("gateway.intake.passwords.verify_password",
                        lambda stored, password: release.wait(10))
    checker = PasswordChecker(threads=2, waiting=4)

    async def spray_then_upload() -> None:
        spray = [asyncio.ensure_future(checker.check("alpha", None, "guess"))
                 for _ in range(8)]
        await asyncio.sleep(0.05)
        writer = _writer(receiver, b"user_id\n")
        await asyncio.wait_for(receiver.receive(writer, "users.csv"), timeout=5)
        assert sum(task.done() for task in spray) == 2  # 2 running, 4 waiting, 2 refused
        release.set()
        await asyncio.gather(*spray, return_exceptions=True)

    asyncio.run(spray_then_upload())
    checker.close()


def _sftp_server(receiver: Receiver) -> tuple[UploadSession, InstitutionSFTPServer]:
    """Alpha's SFTP server on a channel that goes nowhere (call it on the event loop)."""
    session = UploadSession("alpha", IntakeOptions(), IntakeServices(receiver, cast(Any, None)))
    channel = SimpleNamespace(exit=lambda status: None, write=lambda *args: None,
                              write_eof=lambda: None, close=lambda: None)
    return session, InstitutionSFTPServer(cast(Any, channel),
                                          home=bytes(receiver.spool.home("alpha")),
                                          session=session, shelf=LocalShelf(receiver.spool))


def test_sftp_v5_v6_opens_go_through_the_same_rules(receiver: Receiver) -> None:
    async def opens() -> None:
        session, server = _sftp_server(receiver)
        attrs = asyncssh.SFTPAttrs()
        with pytest.raises(asyncssh.SFTPOpUnsupported, match="resume is not supported"):
            server.open56(b"/inbox/users.csv", asyncssh.ACE4_APPEND_DATA, 0, attrs)
        with pytest.raises(asyncssh.SFTPOpUnsupported, match="resume is not supported"):
            server.open56(b"/inbox/users.csv", asyncssh.ACE4_WRITE_DATA,
                          asyncssh.FXF_APPEND_DATA, attrs)
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            server.open56(b"/etc/passwd", asyncssh.ACE4_READ_DATA, 0, attrs)
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            server.open56(b"/reports/x.txt", asyncssh.ACE4_WRITE_DATA, 0, attrs)
        opening = server.open56(b"/inbox/users.csv", asyncssh.ACE4_WRITE_DATA,
                                asyncssh.FXF_CREATE_TRUNCATE, attrs)
        assert isinstance(opening, Awaitable)
        assert isinstance(await opening, UploadWriter)
        await session.end()
        await server.exit()

    asyncio.run(opens())


def test_an_open_while_the_store_is_down_gets_a_plain_answer(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    where = "postgresql://gw@db.internal:5432/gateway"

    def down(institution: str) -> int:
        raise StoreUnavailable(f"{where}: couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(receiver, "pending_bytes", down)

    async def opens() -> None:
        session, server = _sftp_server(receiver)
        with caplog.at_level(logging.ERROR), \
                pytest.raises(asyncssh.SFTPFailure) as refused:
            await server.open(b"/inbox/users.csv", asyncssh.FXF_WRITE | asyncssh.FXF_CREAT,
                              asyncssh.SFTPAttrs())  # type: ignore[misc]
        assert str(refused.value.reason) == ("/inbox/users.csv: the gateway cannot take "
                                             "uploads right now; nothing was received, try "
                                             "again later")
        [line] = [r for r in caplog.records if r.name == "gateway.intake.sftp"]
        assert where in line.__dict__["error"]  # the operator sees which database
        await session.end()
        await server.exit()

    asyncio.run(opens())


def test_an_upload_opens_with_its_store_round_trips_off_the_event_loop(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster's database may be slow or gone: the loop serving every session must not
    wait for it when a client opens an upload."""
    threads: list[str] = []
    waiting_bytes = receiver.pending_bytes
    opened = receiver.in_flight.opened

    def pending(institution: str) -> int:
        threads.append(threading.current_thread().name)
        return waiting_bytes(institution)

    def share(writer: UploadWriter) -> None:
        threads.append(threading.current_thread().name)
        opened(writer)

    monkeypatch.setattr(receiver, "pending_bytes", pending)
    monkeypatch.setattr(receiver.in_flight, "opened", share)

    async def opens() -> None:
        session, server = _sftp_server(receiver)
        loop_thread = threading.current_thread().name
        writer = await server.open(b"/inbox/users.csv", asyncssh.FXF_WRITE | asyncssh.FXF_CREAT,
                                   asyncssh.SFTPAttrs())  # type: ignore[misc]
        assert isinstance(writer, UploadWriter)
        assert len(threads) == 2
        assert loop_thread not in threads
        assert receiver.uploads_open("alpha") == 1
        await session.end()
        await server.exit()
        assert receiver.uploads_open("alpha") == 0

    asyncio.run(opens())
