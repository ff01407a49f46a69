"""Receiver: a failed or broken upload is never received; any completion failure is logged
and answered with a clear error; password checks cannot hold up completions."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Iterator
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
from gateway.state.spool import Spool
from gateway.state.store import Store


@pytest.fixture
def receiver(store: Store, spool: Spool) -> Iterator[Receiver]:
    """A receiver on each store backend."""
    received = Receiver(store, spool, on_received=lambda: None)
    yield received
    received.close()


def _writer(receiver: Receiver, data: bytes) -> UploadWriter:
    writer = receiver.begin("alpha", IntakeOptions(), "users.csv")
    writer.write(0, data)
    return writer


def test_a_clean_upload_is_received_durably(receiver: Receiver) -> None:
    writer = _writer(receiver, b"user_id\n")
    upload_id = asyncio.run(receiver.receive(writer, "users.csv"))
    assert receiver.spool.upload_path(upload_id).read_bytes() == b"user_id\n"
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


def test_sftp_v5_v6_opens_go_through_the_same_rules(receiver: Receiver) -> None:
    async def opens() -> None:
        session = UploadSession("alpha", IntakeOptions(),
                                IntakeServices(receiver, cast(Any, None)))
        channel = SimpleNamespace(exit=lambda status: None, write=lambda *args: None,
                                  write_eof=lambda: None, close=lambda: None)
        server = InstitutionSFTPServer(cast(Any, channel),
                                       home=bytes(receiver.spool.home("alpha")),
                                       session=session)
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
        writer = server.open56(b"/inbox/users.csv", asyncssh.ACE4_WRITE_DATA,
                               asyncssh.FXF_CREATE_TRUNCATE, attrs)
        assert isinstance(writer, UploadWriter)
        await session.end()
        await server.exit()

    asyncio.run(opens())
