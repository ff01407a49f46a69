"""CanvasSandbox: a Canvas SIS Imports simulator served on loopback.

Usage:
    with CanvasSandbox(accounts={"1": "token"}, processing_seconds=0.2) as sandbox:
        base_url = sandbox.base_url          # "http://127.0.0.1:PORT"
        ...                                  # talk to it exactly as to Canvas
        sandbox.imports("1")                 # SisImport JSON of every import, oldest first

Users and persistence:
    CanvasSandbox(accounts={"1": "token"}, other_users={"token2": "1"},   # a 2nd admin of 1
                  errors_file_delay_seconds=5.0,   # errors_attachment shows 5 s after the end
                  data_dir=Path("/data/sandbox"))  # survive restarts (journal.py)

Fault injection and throttling (settable before or while running; see faults.py and
throttle.py, and control.py for the same over HTTP):
    sandbox.faults = Faults(seed=7, reset_after=RequestFault(count=1, methods=("POST",)))
    sandbox.faults_fired()                   # {"reset_after": 1}
    sandbox.throttling = Throttling(request_cost=300.0, status=429)

Account reports (reports_api.py): runs end after `report_seconds` (default 1.0); their files
are served by a second server on another port (`sandbox.file_store`, which records every
request it got: `sandbox.file_store.requests()`); `sandbox.report_runs.all("1")` lists runs.

Threads: one serving thread (plus one per connection), one processor per account and one
delayed-job thread (error files).  A sandbox runs once: start() after stop() raises; a new
CanvasSandbox on the same data dir carries on where the last one stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from gateway.sandbox.api import RequestCount, SandboxApi
from gateway.sandbox.delayed import ErrorsFileJobs
from gateway.sandbox.faults import Faults
from gateway.sandbox.file_store import FileStore
from gateway.sandbox.handler import SandboxHTTPServer
from gateway.sandbox.injector import FaultInjector
from gateway.sandbox.journal import open_journal
from gateway.sandbox.processor import AccountProcessor
from gateway.sandbox.report_runs import ReportRuns
from gateway.sandbox.reports_api import AccountReportsApi
from gateway.sandbox.store import ImportStore, utc_now
from gateway.sandbox.throttle import Throttle, Throttling
from gateway.sandbox.users import register, user_json
from gateway.sandbox.views import ImportViews

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
        faults: Faults | None = None,
        throttling: Throttling | None = None,
        other_users: Mapping[str, str] | None = None,
        errors_file_delay_seconds: float = 5.0,
        data_dir: Path | None = None,
        report_seconds: float = 1.0,
    ) -> None:
        """`accounts` maps each root account id to the token of its integration user.

        `other_users` maps more tokens to the account whose admins they are (other API
        users).  `errors_file_delay_seconds` is how long after an import's end its error
        file shows (Canvas writes it from a delayed job; 0 = at the end).  With `data_dir`
        every import, file, id counter and SIS object is kept in `<data_dir>/canvas.db`.
        `faults` is the initial fault plan (none by default); `throttling` the throttle
        settings (Canvas's by default).  Raises ValueError for no accounts, an empty or
        repeated token or a bad time; OSError / sqlite3.Error when the data dir cannot be
        used.  `report_seconds` is how long an account report run takes.
        """
        if not accounts:
            raise ValueError("at least one account is required")
        tokens = [*accounts.values(), *(other_users or {})]
        if any(not token for token in tokens) or len(set(tokens)) != len(tokens):
            raise ValueError("every token must be non-empty and used once")
        self._accounts = dict(accounts)
        self._host = host
        self._port = port
        journal = open_journal(data_dir)
        try:
            self._store = ImportStore(
                self._accounts,
                processing_seconds,
                errors_file_delay=errors_file_delay_seconds,
                journal=journal,
            )
            directory, users = register(
                self._accounts,
                other_users or {},
                self._store.meta("users"),
                lambda: self._store.take_id("user"),
                utc_now(),
            )
            self._store.put_meta("users", users)
        except BaseException:
            journal.close()  # a sandbox that never starts must not hold the data dir open
            raise
        self._views = ImportViews(self._store, directory)
        self._injector = FaultInjector(faults)
        self._throttle = Throttle(throttling)
        self.report_runs = ReportRuns(self._store.take_id, report_seconds)
        """The account report runs (report_runs.py); ``report_seconds`` is settable."""
        self.file_store = FileStore(self._injector, host)
        """The separate file server report downloads are redirected to (file_store.py)."""
        self._counted = RequestCount()
        self._stop_event = threading.Event()
        self._lifecycle = threading.Lock()
        self._httpd: SandboxHTTPServer | None = None
        self._serving: threading.Thread | None = None
        self._processors: list[AccountProcessor] = []
        self._delayed = ErrorsFileJobs(self._store, self._stop_event)
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
    def errors_file_delay_seconds(self) -> float:
        """Seconds from an import's end to its errors_attachment; settable while running."""
        return self._store.errors_file_delay

    @errors_file_delay_seconds.setter
    def errors_file_delay_seconds(self, seconds: float) -> None:
        self._store.errors_file_delay = seconds

    @property
    def start_delay_seconds(self) -> float:
        """Seconds a new import stays `created` before it may start (Canvas's
        `sis_batch_process_start_delay`; 0 by default, as Canvas's); settable while running."""
        return self._store.start_delay

    @start_delay_seconds.setter
    def start_delay_seconds(self, seconds: float) -> None:
        self._store.start_delay = seconds

    @property
    def faults(self) -> Faults:
        """The current fault plan; assigning one replaces it and restarts its counters."""
        return self._injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._injector.set(faults)

    def faults_fired(self) -> dict[str, int]:
        """How many times each fault kind fired since the current plan was set."""
        return self._injector.fired()

    def requests(self) -> dict[str, int]:
        """API requests answered so far, by method and route (``"GET list"``, ``"POST
        create"``, ``"GET show"`` ...), control calls aside."""
        return self._counted.snapshot()

    def throttled(self) -> int:
        """How many requests the throttle refused since the sandbox started."""
        return self._throttle.refused

    @property
    def throttling(self) -> Throttling:
        """The throttle settings; assigning applies from the next request."""
        return self._throttle.settings

    @throttling.setter
    def throttling(self, throttling: Throttling) -> None:
        self._throttle.settings = throttling

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
            self.file_store.start()
            reports = AccountReportsApi(self._store, self.report_runs, self._injector,
                                        self.file_store)
            api = SandboxApi(
                self._store, self._views, self._injector, self._throttle,
                self._stop_event.wait, reports=reports, counted=self._counted,
            )
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
                processor = AccountProcessor(
                    self._store, account_id, self._stop_event, self._injector
                )
                processor.start()
                self._processors.append(processor)
            self._delayed.start()
            host, port = httpd.server_address[:2]
            self._base_url = f"http://{_url_host(str(host))}:{port}"
            logger.debug("Canvas sandbox serving on %s", self._base_url)
            return self._base_url

    def stop(self) -> None:
        """Stop serving and processing, close the data dir; idempotent.  Imports in
        progress stay `importing` (a sandbox started on the same data dir runs them
        again)."""
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
            if self._httpd is not None:
                self._delayed.join(_JOIN_SECONDS)
            self.file_store.stop()
            self._store.close()

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
        base_url = self._base_url or ""
        return [self._views.render(record, base_url) for record in self._store.all(account_id)]

    def payloads(self, account_id: str) -> list[bytes]:
        """The exact bytes each import received, oldest first.  KeyError if unknown."""
        return [record.upload.payload for record in self._store.all(account_id)]

    def sis_objects(self, account_id: str) -> dict[str, list[str]]:
        """SIS ids of the account's active terms, courses, sections and enrollments, as its
        imports left them (batch mode deletes from these).  KeyError if unknown."""
        return self._store.objects(account_id).snapshot()

    def user(self, token: str) -> dict[str, Any] | None:
        """The user JSON (as a SIS import's `user`) of the token's owner, or None."""
        user = self._views.directory.user_for(token)
        return user_json(user) if user is not None else None


def _url_host(host: str) -> str:
    """IPv6 literals need brackets in a URL."""
    return f"[{host}]" if ":" in host else host
