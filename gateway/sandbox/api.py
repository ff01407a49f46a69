"""The sandbox's request handling, in the layers a request crosses at Canvas.

1. `/sandbox/...` goes to the control endpoints (control.py): no faults, no throttle, no
   authentication.
2. The fault plan's request faults, as the network and load balancer would cause them:
   latency, a reset before handling, a maintenance page, a 502/503/504 page (before
   handling, or after it with `after`).
3. The throttle (throttle.py), for every request that carries a token: rate headers, and
   the 403/429 refusal when the token's bucket is full.
4. Canvas itself: an injected 500 (before or after handling), else the route table
   (routes.py) → authentication (auth.py) → the endpoint (imports_api.py, errors_api.py,
   people_api.py).
5. A reset after handling replaces the answer: the work is done, the client never hears.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from gateway.sandbox import control, errors_api, imports_api, people_api
from gateway.sandbox.auth import Caller, authorize, presented_token
from gateway.sandbox.injector import (
    FaultInjector,
    RequestPlan,
    error_response,
    maintenance_response,
)
from gateway.sandbox.reports_api import AccountReportsApi
from gateway.sandbox.routes import Action, Route, match_route
from gateway.sandbox.store import ImportStore
from gateway.sandbox.throttle import Throttle
from gateway.sandbox.views import ImportViews
from gateway.sandbox.wire import CONNECTION_RESET, Request, Response, not_found

logger = logging.getLogger(__name__)


class RequestCount:
    """How many API requests (``/sandbox/`` control calls aside) the sandbox was asked, by
    method and route (``"GET list"``; ``"GET unknown"`` for no route); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, method: str, path: str) -> None:
        """Count one request."""
        route = match_route(method, path)
        with self._lock:
            self._counts[f"{method} {route.action if route else 'unknown'}"] += 1

    def snapshot(self) -> dict[str, int]:
        """The counts so far."""
        with self._lock:
            return dict(self._counts)


class SandboxApi:
    """Canvas's SIS import API over an ImportStore; safe to call from many threads."""

    def __init__(
        self,
        store: ImportStore,
        views: ImportViews,
        injector: FaultInjector | None = None,
        throttle: Throttle | None = None,
        sleep: Callable[[float], object] = time.sleep,
        *,
        reports: AccountReportsApi | None = None,
        counted: RequestCount | None = None,
    ) -> None:
        """`sleep` waits out injected latency (the server passes its stop event's wait,
        so stopping does not wait for sleeping requests); `reports` serves the account
        reports (without it their routes are 404)."""
        self._reports = reports
        self._store = store
        self._views = views
        self._injector = injector or FaultInjector()
        self._throttle = throttle or Throttle()
        self._sleep = sleep
        self._counted = counted or RequestCount()

    def handle(self, request: Request) -> Response:
        """Answer one request; an unexpected error becomes Canvas's 500 body, never a raise."""
        try:
            if request.path.startswith("/sandbox/"):
                return control.handle(
                    request, self._store, self._views, self._injector, self._throttle
                )
            self._counted.add(request.method, request.path)
            return self._with_faults(
                request, self._injector.for_request(request.method, request.path)
            )
        except Exception:  # a bug must not kill the handler thread or hang the client
            logger.exception("sandbox request %s %s failed", request.method, request.path)
            return error_response(500, self._store.next_error_report)

    def _with_faults(self, request: Request, plan: RequestPlan) -> Response:
        if plan.latency:
            self._sleep(plan.latency)
        if plan.reset_before:
            return CONNECTION_RESET
        if plan.maintenance is not None:
            return maintenance_response(plan.maintenance)
        gateway_error = plan.error if plan.error is not None and plan.error != 500 else None
        if gateway_error is not None and not plan.error_after:
            return error_response(gateway_error, self._store.next_error_report)
        response = self._throttled(request, plan)
        if plan.reset_after:
            return CONNECTION_RESET
        if gateway_error is not None:
            return error_response(gateway_error, self._store.next_error_report)
        return response

    def _throttled(self, request: Request, plan: RequestPlan) -> Response:
        token = presented_token(request)
        if token is None:
            return self._canvas(request, plan)
        return self._throttle.handle(token, lambda: self._canvas(request, plan))

    def _canvas(self, request: Request, plan: RequestPlan) -> Response:
        """Canvas's own answer, or its 500 when the plan injects one."""
        if plan.error == 500 and not plan.error_after:
            return error_response(500, self._store.next_error_report)
        response = self._route(request)
        if plan.error == 500:
            return error_response(500, self._store.next_error_report)
        return response

    def _route(self, request: Request) -> Response:
        route = match_route(request.method, request.path)
        if route is None:
            return not_found()
        if route.action is Action.DOWNLOAD and route.id is not None:
            return errors_api.download(self._store, self._views, request, route.id)
        if route.action is Action.USER:
            return people_api.show_user(request, self._views.directory, route.user or "")
        decision = authorize(request, route.account or "", self._views.directory)
        if route.action is Action.REPORT_FILE:
            return self._report_file(request, route, decision)
        if isinstance(decision, Response):
            return decision
        return self._dispatch(request, route, decision)

    def _dispatch(self, request: Request, route: Route, caller: Caller) -> Response:
        store, views, import_id = self._store, self._views, route.id or 0
        account_id = caller.account_id
        endpoints: dict[Action, Callable[[], Response]] = {
            Action.ACCOUNT: lambda: people_api.show_account(caller),
            Action.CREATE: lambda: imports_api.create(store, views, request, caller),
            Action.LIST: lambda: imports_api.list_imports(store, views, request, account_id),
            Action.IMPORTING: lambda: imports_api.importing(store, views, request, account_id),
            Action.ABORT_ALL_PENDING: lambda: imports_api.abort_all_pending(store, account_id),
            Action.SHOW: lambda: imports_api.show(store, views, request, account_id, import_id),
            Action.ABORT: lambda: imports_api.abort(store, views, request, account_id, import_id),
            Action.IMPORT_ERRORS: lambda: errors_api.import_errors(
                store, request, account_id, import_id
            ),
            Action.ACCOUNT_ERRORS: lambda: errors_api.account_errors(store, request, account_id),
        }
        if route.action in endpoints:
            return endpoints[route.action]()
        return self._report_endpoint(request, route, caller)

    def _report_file(self, request: Request, route: Route,
                     decision: Caller | Response) -> Response:
        """A report file's download: for the file's verifier, or the account's token."""
        if self._reports is None:
            return not_found()
        if isinstance(decision, Response) and request.query.get("verifier") is None:
            return decision
        caller = decision if isinstance(decision, Caller) else None
        account = caller.account_id if caller else route.account or ""
        return self._reports.redirect(request, caller, account, route.id or 0)

    def _report_endpoint(self, request: Request, route: Route, caller: Caller) -> Response:
        reports, report = self._reports, route.report or ""
        if reports is None:
            return not_found()
        run_id = route.id or 0
        endpoints: dict[Action, Callable[[], Response]] = {
            Action.REPORTS_AVAILABLE: lambda: reports.available(request, caller),
            Action.REPORT_CREATE: lambda: reports.create(request, caller, report),
            Action.REPORT_INDEX: lambda: reports.index(request, caller, report),
            Action.REPORT_SHOW: lambda: reports.show(request, caller, report, run_id),
            Action.REPORT_DELETE: lambda: reports.delete(request, caller, report, run_id),
        }
        endpoint = endpoints.get(route.action)
        return endpoint() if endpoint is not None else not_found()
