"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for tests."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass
class Received:
    """One message as the server took it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool


@dataclass
class Collector:
    """aiosmtpd handler that keeps every message, and can refuse some recipients or DATA."""

    messages: list[Received] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    data_reply: str = "250 Message accepted"
    stall: threading.Event | None = None
    """While set here and not yet set(), a message's DATA waits (the sender waits for the
    reply): kept if ``keep_stalled`` (the server took it on, the reply is what is lost),
    else dropped."""
    keep_stalled: bool = False
    stalled: threading.Event = field(default_factory=threading.Event)
    """Set when a message's DATA is waiting on ``stall``."""

    # aiosmtpd finds its hooks by these exact names.
    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.stall is not None and not self.stall.is_set():
            if self.keep_stalled:  # taken on (delivered) before the reply, which is lost
                self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                              envelope.original_content,
                                              session.ssl is not None))
            self.stalled.set()
            while not self.stall.is_set():
                await asyncio.sleep(0.02)
            return "451 the server stopped before answering"
        if not self.data_reply.startswith("250"):
            return self.data_reply
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content, session.ssl is not None))
        return self.data_reply


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server(handler: Collector, port: int | None = None,
                **options: Any) -> Iterator[int]:
    """Run an aiosmtpd server on 127.0.0.1 (on ``port``, else a free one) for the duration;
    yield its port."""
    port = port or free_port()
    controller = Controller(handler, hostname=HOST, port=port, server_hostname="localhost",
                            **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


