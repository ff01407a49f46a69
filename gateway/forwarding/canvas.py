"""The Canvas SIS Imports client.  Every failure leaves here classified, never raw.

:class:`CanvasError` says whether a failure is *transient* (try again later) or permanent
(an operator must act), and whether the request is *ambiguous*: it may have reached Canvas
and created an import even though no answer came back.  Runners decide by these flags only.
The token travels in the Authorization header and never appears in an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import requests

from gateway.institutions import CanvasTarget
from gateway.state.spool import publish_stream

log = logging.getLogger(__name__)

TERMINAL_STATES = frozenset(
    {"imported", "imported_with_messages", "failed", "failed_with_messages", "aborted",
     "restoring", "restored", "partially_restored"}
)
"""States after which Canvas does no more import work (restores only follow an end)."""

RUNNING_STATES = ("created", "importing", "cleanup_batch")
"""States of imports Canvas will still process; a new import would queue behind them."""


class CanvasError(Exception):
    """A classified Canvas failure.  ``str()`` is safe to show to people."""

    def __init__(self, message: str, *, transient: bool, ambiguous: bool = False,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.ambiguous = ambiguous
        self.status = status


class CanvasClient:
    """Talks to one institution's Canvas account over HTTPS (TLS verified)."""

    def __init__(self, target: CanvasTarget, *, timeout_seconds: float,
                 session: requests.Session | None = None) -> None:
        self._target = target
        self._timeout = timeout_seconds
        self._session = session or requests.Session()
        self._base = f"{target.base_url}/api/v1/accounts/{target.account_id}/sis_imports"
        self.server_time: float | None = None
        """Canvas's own clock (the ``Date`` header) at its last answer, as a Unix time:
        imports are stamped by that clock, not by ours."""

    @property
    def base_url(self) -> str:
        """The Canvas instance this client talks to."""
        return self._target.base_url

    def post_import(self, body: BinaryIO, filename: str,
                    options: Mapping[str, str] | None = None) -> dict[str, Any]:
        """POST a zip (``body``, read from its start) as a new SIS import; return Canvas's
        SisImport JSON."""
        fields = {"import_type": "instructure_csv", **(options or {})}
        files = {"attachment": (filename, body, "application/zip")}
        return self._call("POST", self._base, data=fields, files=files, ambiguous=True)

    def current_user(self) -> dict[str, Any]:
        """The API user the token belongs to (``GET /api/v1/users/self``): Canvas stores it
        as the ``user`` of every import the token creates."""
        return self._call("GET", f"{self._target.base_url}/api/v1/users/self")

    def get_import(self, import_id: int) -> dict[str, Any]:
        """The current SisImport JSON of one import."""
        return self._call("GET", f"{self._base}/{import_id}")

    def abort_import(self, import_id: int) -> dict[str, Any]:
        """Ask Canvas to abort an import that has not finished; returns it re-read."""
        return self._call("PUT", f"{self._base}/{import_id}/abort")

    def download(self, url: str, destination: Path, *, max_bytes: int = 256 << 20) -> None:
        """Fetch a Canvas file (the errors CSV) to ``destination``; see save_file."""
        self.save_file(url, destination, max_bytes=max_bytes, what="errors file")

    def fetch_file(self, url: str, *, max_bytes: int, what: str = "file",
                   max_redirects: int = 5) -> bytes:
        """The bytes of a Canvas file, held in memory (small files only; see save_file for
        the redirect and token rules, the errors raised)."""
        with self._file_response(url, what, max_redirects) as response:
            return b"".join(_limited(response.iter_content(1 << 16), max_bytes, what))

    def save_file(self, url: str, destination: Path, *, max_bytes: int, what: str = "file",
                  max_redirects: int = 5) -> tuple[int, str]:
        """Stream a Canvas file to ``destination`` (temp, fsync, rename), one chunk in memory
        at a time; returns its size and SHA-256 (hex).

        Canvas's redirects are followed to its file store.  The token is sent only to the
        Canvas origin itself (same scheme, host and port as the base URL: never in clear
        after a redirect to http, never to another port): a redirect elsewhere (the file
        store: S3, inst-fs) carries its own verifier and never receives it, because each hop
        is requested by hand with headers chosen for it.  Raises CanvasError (transient for
        5xx, 404 and broken connections, also mid-file; permanent past ``max_bytes``, checked
        while streaming); on any error ``destination`` is left as it was.
        """
        with self._file_response(url, what, max_redirects) as response:
            return publish_stream(destination, _limited(response.iter_content(1 << 20),
                                                        max_bytes, what))

    @contextmanager
    def _file_response(self, url: str, what: str,
                       max_redirects: int) -> Iterator[requests.Response]:
        """The streamed 200 answer for a file at ``url``, its redirects followed by hand
        (the token for the Canvas origin only); a broken connection while the caller reads
        the body is a transient CanvasError too."""
        for _ in range(max_redirects + 1):
            headers = ({"Authorization": f"Bearer {self._target.token.get_secret_value()}"}
                       if _origin(url) == _origin(self._target.base_url) else {})
            try:
                with self._session.get(url, headers=headers, timeout=self._timeout,
                                       stream=True, allow_redirects=False) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status_code != 200:
                        raise CanvasError(f"GET {what}: answered {response.status_code}",
                                          transient=True, status=response.status_code)
                    yield response
                    return
            except requests.RequestException as error:
                raise CanvasError(f"GET {what}: {type(error).__name__}",
                                  transient=True) from None
        raise CanvasError(f"GET {what}: more than {max_redirects} redirects", transient=True)

    def request_json(self, method: str, path: str, *, ambiguous: bool = False,
                     **kwargs: Any) -> Any:
        """One API call to ``path`` (below the Canvas base URL, e.g. ``/api/v1/...``), its
        JSON answer returned: an object, or a list for index calls.  Raises CanvasError,
        classified as for every call of this client."""
        return self._call_with_response(method, f"{self._target.base_url}{path}",
                                        ambiguous=ambiguous, allow_list=True, **kwargs)[0]

    def list_imports(self, *, created_since: datetime | None = None,
                     states: tuple[str, ...] = (), max_pages: int = 10) -> list[dict[str, Any]]:
        """SisImports of the account, newest first, following ``Link: rel=next`` pages (at
        most ``max_pages`` of 100: the oldest may be left out)."""
        return self.search_imports(created_since=created_since, states=states,
                                   max_pages=max_pages)[0]

    def search_imports(self, *, created_since: datetime | None = None,
                       states: tuple[str, ...] = (),
                       max_pages: int = 50) -> tuple[list[dict[str, Any]], bool]:
        """Like list_imports, and whether the list is complete (False when a next page was
        left unread: Canvas lists newest first, so the oldest are the ones missing)."""
        params: dict[str, Any] = {"per_page": 100}
        if created_since is not None:
            params["created_since"] = created_since.astimezone(UTC).isoformat()
        if states:
            params["workflow_state[]"] = list(states)
        found: list[dict[str, Any]] = []
        url = self._base
        for _ in range(max_pages):
            body, response = self._call_with_response("GET", url, params=params)
            found.extend(body.get("sis_imports", []))
            following = response.links.get("next", {}).get("url")
            if following is None:
                return found, True
            url, params = str(following), {}  # the next link carries the query
        return found, False

    def _call(self, method: str, url: str, *, ambiguous: bool = False,
              **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = self._call_with_response(method, url, ambiguous=ambiguous,
                                                        **kwargs)[0]
        return body

    def _call_with_response(self, method: str, url: str, *, ambiguous: bool = False,
                            allow_list: bool = False,
                            **kwargs: Any) -> tuple[Any, requests.Response]:
        headers = {"Authorization": f"Bearer {self._target.token.get_secret_value()}",
                   "Accept": "application/json"}
        where = f"{method} {_without_query(url)}"
        try:
            response = self._session.request(method, url, headers=headers,
                                              timeout=self._timeout, **kwargs)
        except requests.ConnectionError as error:
            sent = not isinstance(error, requests.ConnectTimeout) and not _refused(error)
            raise CanvasError(f"{where}: connection failed ({type(error).__name__})",
                              transient=True, ambiguous=ambiguous and sent) from None
        except requests.Timeout:
            raise CanvasError(f"{where}: no answer within {self._timeout:g}s",
                              transient=True, ambiguous=ambiguous) from None
        except requests.RequestException as error:
            raise CanvasError(f"{where}: request failed ({type(error).__name__})",
                              transient=True, ambiguous=ambiguous) from None
        self.server_time = _date_header(response) or self.server_time
        return _classify(where, response, ambiguous, allow_list), response


def _classify(where: str, response: requests.Response, ambiguous: bool,
              allow_list: bool = False) -> Any:
    """Return the JSON body of a 2xx answer, or raise the right CanvasError."""
    status = response.status_code
    text = response.text[:2000]
    if status == 429 or (status == 403 and "Rate Limit Exceeded" in text):
        raise CanvasError(f"{where}: throttled by Canvas ({status})", transient=True,
                          status=status)
    if status >= 500:
        raise CanvasError(f"{where}: Canvas answered {status}", transient=True,
                          ambiguous=ambiguous, status=status)
    if status >= 400:
        raise CanvasError(f"{where}: Canvas answered {status}: {_canvas_message(response)}",
                          transient=False, status=status)
    try:
        body = response.json()
    except ValueError:
        raise CanvasError(f"{where}: Canvas answered {status} with a non-JSON body "
                          "(maintenance page?)", transient=True, ambiguous=ambiguous,
                          status=status) from None
    if not isinstance(body, dict) and not (allow_list and isinstance(body, list)):
        raise CanvasError(f"{where}: unexpected answer shape", transient=True,
                          ambiguous=ambiguous, status=status)
    return body


def _canvas_message(response: requests.Response) -> str:
    """Canvas's own words from an error body, in any of its shapes."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            return str(first.get("message", first) if isinstance(first, dict) else first)
        for key in ("message", "error_message", "error"):
            if key in body:
                return str(body[key])
    return str(body)[:300]


def _limited(chunks: Iterator[bytes], max_bytes: int, what: str) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise CanvasError(f"{what} larger than {max_bytes} bytes", transient=False)
        yield chunk


def _refused(error: requests.ConnectionError) -> bool:
    """True when the connection never opened (nothing can have reached Canvas)."""
    text = str(error)
    return "Connection refused" in text or "NewConnectionError" in text or \
        "Name or service not known" in text


def _date_header(response: requests.Response) -> float | None:
    """The answer's ``Date`` header as a Unix time, or None when absent or unreadable."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _origin(url: str) -> tuple[str, str, int | None]:
    """A URL's scheme, host (lower case) and port (the scheme's default when unwritten)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a port: matches no origin
        return ("", "", None)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), port or {"https": 443, "http": 80}.get(scheme)


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


def parse_canvas_time(value: str | None) -> datetime | None:
    """Parse Canvas's ISO 8601 timestamps (``...Z`` or with an offset)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
