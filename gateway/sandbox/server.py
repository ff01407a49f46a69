"""CanvasSandbox: a Canvas SIS Imports simulator served on loopback.

Usage:
    with CanvasSandbox(accounts={"1": "token"}, processing_seconds=0.2) as sandbox:
        base_url = sandbox.base_url          # "http://127.0.0.1:PORT"
        ...                                  # talk to it exactly as to Canvas
        sandbox.imports("1")                 # SisImport JSON of every import, oldest first

Threads: one serving thread (plus one per connection) and one processor per account.  A
sandbox runs once: start() after stop() raises.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from gateway.sandbox.api import SandboxApi
from gateway.sandbox.handler import SandboxHTTPServer
from gateway.sandbox.processor import AccountProcessor
from gateway.sandbox.records import to_json
from gateway.sandbox.store import ImportStore

logger = logging.getLogger(__name__)

_JOIN_SECONDS = 5.0


class CanvasSandbox:
    """A running-on-demand Canvas SIS Imports API for the given root accounts."""

    def __init__(
        self,
        *,
        accounts: Mapping[str, str],
        processing_seconds: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """`accounts` maps each root account id to the one bearer token it accepts.

        Raises ValueError for no accounts, an empty token or a bad processing time.
        """
        if not accounts:
            raise ValueError("at least one account is required")
        if any(not token for token in accounts.values()):
            raise ValueError("every account needs a non-empty token")
        if not math.isfinite(processing_seconds) or processing_seconds < 0:
            raise ValueError("processing_seconds must be a finite number >= 0")
        self._accounts = dict(accounts)
        self._host = host
        self._port = port
        self._store = ImportStore(self._accounts, processing_seconds)
        self._stop_event = threading.Event()
        self._lifecycle = threading.Lock()
        self._httpd: SandboxHTTPServer | None = None
        self._serving: threading.Thread | None = None
        self._processors: list[AccountProcessor] = []
        self._base_url: str | None = None
        self._stopped = False

    @property
    def processing_seconds(self) -> float:
        """Seconds each import spends in `importing`; settable while running."""
        return self._store.processing_seconds

    @processing_seconds.setter
    def processing_seconds(self, seconds: float) -> None:
        self._store.processing_seconds = seconds

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` once started.  Raises RuntimeError before start()."""
        if self._base_url is None:
            raise RuntimeError("the sandbox is not started")
        return self._base_url

    def start(self) -> str:
        """Bind, start serving and processing in daemon threads; return the base URL.

        Raises OSError when the address cannot be bound, RuntimeError when called twice
        or after stop().
        """
        with self._lifecycle:
            if self._httpd is not None or self._stopped:
                raise RuntimeError("a CanvasSandbox can be started only once")
            api = SandboxApi(self._store, self._accounts)
            httpd = SandboxHTTPServer((self._host, self._port), api)
            self._httpd = httpd
            self._serving = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="canvas-sandbox-http",
                daemon=True,
            )
            self._serving.start()
            for account_id in self._accounts:
                processor = AccountProcessor(self._store, account_id, self._stop_event)
                processor.start()
                self._processors.append(processor)
            host, port = httpd.server_address[:2]
            self._base_url = f"http://{_url_host(str(host))}:{port}"
            logger.debug("Canvas sandbox serving on %s", self._base_url)
            return self._base_url

    def stop(self) -> None:
        """Stop serving and processing; idempotent.  Imports in progress stay `importing`."""
        with self._lifecycle:
            if self._stopped:
                return
            self._stopped = True
            self._stop_event.set()
            self._store.wake_all()
            if self._httpd is not None:
                self._httpd.shutdown()
                self._httpd.server_close()
            if self._serving is not None:
                self._serving.join(_JOIN_SECONDS)
            for processor in self._processors:
                processor.join(_JOIN_SECONDS)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def imports(self, account_id: str) -> list[dict[str, Any]]:
        """SisImport JSON of every import of the account, oldest first.  KeyError if unknown."""
        return [to_json(record) for record in self._store.all(account_id)]

    def payloads(self, account_id: str) -> list[bytes]:
        """The exact bytes each import received, oldest first.  KeyError if unknown."""
        return [record.upload.payload for record in self._store.all(account_id)]


def _url_host(host: str) -> str:
    """IPv6 literals need brackets in a URL."""
    return f"[{host}]" if ":" in host else host
