"""The control plane's HTTP API for the CLI, on 127.0.0.1 with a bearer token.

Not a request path for users' traffic (a few calls per CLI command), so the standard
library's threading HTTP server is enough and adds no dependency. Whoever can reach the
port is not trusted before the token is checked: the token is compared (in constant time)
before any byte of a body is read; a body must have a valid Content-Length of at most
`MAX_BODY` (else 400/411/413, and the connection is closed unread); a request must arrive
whole within `CROSSCLOUD_API_TIMEOUT` (10 s), and each socket read and write within it;
at most `MAX_CONNECTIONS` are open (more are closed at once).

It also serves the dashboard's static files (web.py: no data in them, so no token) at
`/dashboard/`; the page then calls this API with the token like the CLI does."""

from __future__ import annotations

import contextlib
import hmac
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from crosscloud import errors
from crosscloud.controlplane import (
    cost_ops,
    operations,
    preemption,
    regions_view,
    token_ops,
    web,
)
from crosscloud.controlplane.controller import Controller

log = logging.getLogger("crosscloud.controlplane")
MAX_BODY = 4 * 2**20
MAX_CONNECTIONS = 64
TIMEOUT_ENV = "CROSSCLOUD_API_TIMEOUT"

Route = Callable[[Controller, dict[str, Any]], dict[str, Any]]


def _apply(ctl: Controller, body: dict[str, Any]) -> dict[str, Any]:
    return operations.apply(
        ctl.shared,
        cluster_sync=ctl.clusters,
        text=str(body["text"]),
        path=str(body["path"]),
        catalog=None if body.get("catalog") is None else str(body["catalog"]),
    )


def _scale(ctl: Controller, body: dict[str, Any]) -> dict[str, Any]:
    return operations.scale(
        ctl.shared,
        service=str(body["service"]),
        replicas=int(body["replicas"]),
        placement=body.get("placement"),
    )


def _down(ctl: Controller, body: dict[str, Any]) -> dict[str, Any]:
    return operations.down(ctl, deployment=body.get("deployment"))


def _status(ctl: Controller, query: dict[str, Any]) -> dict[str, Any]:
    return operations.status(ctl, events=int(query.get("events", 0)))


def _logs(ctl: Controller, query: dict[str, Any]) -> dict[str, Any]:
    tail = query.get("tail")
    return operations.pod_log(
        ctl,
        replica=str(query["replica"]),
        tail=None if tail is None else int(tail),
        since=query.get("since"),
    )


POST: dict[str, Route] = {"/v1/apply": _apply, "/v1/scale": _scale, "/v1/down": _down}
GET: dict[str, Route] = {
    "/v1/status": _status,
    "/v1/health": lambda ctl, _q: {"ok": True, **ctl.leader.describe()},  # role: leadership.py
}


def _token_create(ctl: Controller, body: dict[str, Any]) -> dict[str, Any]:
    return token_ops.create(ctl.shared, body, publish=ctl.publish)


def _token_revoke(ctl: Controller, body: dict[str, Any]) -> dict[str, Any]:
    return token_ops.revoke(ctl.shared, body, publish=ctl.publish)


def _token_update(ctl: Controller, body: dict[str, Any]) -> dict[str, Any]:
    return token_ops.update(ctl.shared, body, publish=ctl.publish)


def _token_list(ctl: Controller, query: dict[str, Any]) -> dict[str, Any]:
    return token_ops.list_all(ctl.shared, query)


POST.update(
    {
        "/v1/tokens": _token_create,
        "/v1/tokens/revoke": _token_revoke,
        "/v1/tokens/update": _token_update,
    }
)
GET.update({"/v1/tokens": _token_list, "/v1/logs": _logs})


def _cost(ctl: Controller, query: dict[str, Any]) -> dict[str, Any]:
    return cost_ops.report(ctl.shared, query)


def _quotas(ctl: Controller, query: dict[str, Any]) -> dict[str, Any]:
    return cost_ops.quotas(ctl.shared, ctl.usage, query)


GET.update({"/v1/cost": _cost, "/v1/quotas": _quotas})


def _preempt(ctl: Controller, body: dict[str, Any]) -> dict[str, Any]:
    """A preemption notice (`crosscloud chaos preempt`); the gateway hears of it at once."""
    try:
        seconds = float(body.get("notice", 30.0))
    except (TypeError, ValueError):
        raise errors.UserError(
            f"notice must be a number of seconds, got {body.get('notice')!r}"
        ) from None
    with ctl.shared.lock:
        ctl.leader.require()
        result = preemption.notice(
            ctl.shared,
            placement=str(body.get("placement", "")),
            seconds=seconds,
            service=body.get("service"),
        )
    ctl.publish()
    return result


POST["/v1/preempt"] = _preempt
# Prometheus text, not JSON (scrape it with the API's bearer token)
TEXT: dict[str, Callable[[Controller], bytes]] = {
    "/v1/metrics": lambda ctl: cost_ops.metrics(ctl.shared)
}


def _dashboard(_ctl: Controller, _query: dict[str, Any]) -> dict[str, Any]:
    """What this control plane's API offers the dashboard beyond status and traffic."""
    return {"features": {"cost": "/v1/cost" in GET, "quotas": "/v1/quotas" in GET}}


GET.update({"/v1/traffic": lambda ctl, _q: regions_view.report(ctl), "/v1/dashboard": _dashboard})


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.io_timeout)  # each read and write of the socket
        # and the whole request too: a client sending a byte now and then is cut off
        self._deadline = threading.Timer(self.server.io_timeout, self._cut)
        self._deadline.daemon = True
        self._deadline.start()

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)  # never the headers: they carry the token

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/", "/dashboard") or web.asset(url.path) is not None:
            self._page(url.path)
            return
        if self._admitted(body=False) is None:
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        text = TEXT.get(url.path)
        if text is not None:
            self._handle(lambda ctl, _q: {"text": text(ctl)}, {})
            return
        self._handle(GET.get(url.path), query)

    def do_POST(self) -> None:
        length = self._admitted(body=True)
        if length is None:
            return
        try:
            body = orjson.loads(self.rfile.read(length) or b"{}")
        except orjson.JSONDecodeError as exc:
            self._send(400, {"error": "invalid JSON", "detail": str(exc)})
            return
        if not isinstance(body, dict):
            self._send(400, {"error": "bad request", "detail": "the body must be a JSON object"})
            return
        self._handle(POST.get(urlsplit(self.path).path), body)

    def _admitted(self, *, body: bool) -> int | None:
        """The token first, then the body's framing; a refusal closes the connection
        without reading the body. Returns the body's length (0 for a GET), or None."""
        checked = self._check(body=body)
        if isinstance(checked, int):
            return checked
        self._refuse(*checked)
        return None

    def _check(self, *, body: bool) -> int | tuple[int, str, str]:
        if not web.same_origin(self.headers, self.server.port):
            return 403, "forbidden", "requests from another origin are refused"
        if not self._authorized():
            return 401, "unauthorized", "a valid bearer token is required"
        if "transfer-encoding" in self.headers:
            return 411, "length required", "send a Content-Length, not chunks"
        values = self.headers.get_all("content-length") or ["0"]
        raw = values[0].strip()
        if len(values) != 1 or not (raw.isascii() and raw.isdigit()):
            return 400, "bad request", "Content-Length must be one number"
        length = int(raw)
        if length and not body:
            return 400, "bad request", f"{self.command} takes no body"
        if length > MAX_BODY:
            return 413, "payload too large", f"limit {MAX_BODY} bytes"
        return length

    def handle_expect_100(self) -> bool:
        """`100 Continue` only to a request that would be read: a client without the token
        is not invited to send its body (the method's handler then refuses it)."""
        if isinstance(self._check(body=self.command == "POST"), int):
            return super().handle_expect_100()
        return True

    def _refuse(self, status: int, error: str, detail: str) -> None:
        self.close_connection = True  # what the client sent after the head stays unread
        self._send(status, {"error": error, "detail": detail})

    def _handle(self, route: Route | None, data: dict[str, Any]) -> None:
        self._deadline.cancel()  # read in time; what it asks may take long (a `down`)
        with self.server.counting:
            self.server.active += 1
        try:
            self._dispatch(route, data)
        finally:
            with self.server.counting:
                self.server.active -= 1

    def _dispatch(self, route: Route | None, data: dict[str, Any]) -> None:
        if route is None:
            self._send(404, {"error": "not found", "detail": self.path})
            return
        try:
            self._send(200, route(self.server.controller, data))
        except errors.ManifestError as exc:
            problems = [str(p) for p in exc.problems]
            self._send(400, {"error": "invalid manifest", "detail": problems})
        except errors.CrossCloudError as exc:
            self._send(
                exc.http_status if exc.http_status < 500 else 500,
                {"error": type(exc).__name__, "detail": str(exc)},
            )
        except (KeyError, TypeError, ValueError) as exc:
            self._send(400, {"error": "bad request", "detail": f"{type(exc).__name__}: {exc}"})
        except Exception:
            log.exception("API %s failed", self.path)
            self._send(500, {"error": "internal error", "detail": "see the control plane log"})

    def _authorized(self) -> bool:
        scheme, _, given = (self.headers.get("authorization") or "").partition(" ")
        token = self.server.token.encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)

    def _page(self, path: str) -> None:
        """A dashboard file (no token: it holds no data), only to a loopback Host."""
        self._deadline.cancel()
        found = web.asset(path)
        if not web.local_host(self.headers, self.server.port):
            self._refuse(421, "misdirected request", "the dashboard answers only on 127.0.0.1")
        elif found is None:  # `/`: where the page is
            self.send_response(308)
            self.send_header("location", web.PAGE)
            self.send_header("content-length", "0")
            self.end_headers()
        else:
            self._write(200, found[0], found[1], web.PAGE_HEADERS)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        text = body.get("text") if status == 200 and urlsplit(self.path).path in TEXT else None
        data = text if isinstance(text, bytes) else orjson.dumps(body)
        kind = "text/plain; version=0.0.4" if text is not None else "application/json"
        self._write(status, data, kind, web.API_HEADERS)

    def _write(self, status: int, data: bytes, kind: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        controller: Controller,
        token: str,
        host: str = "127.0.0.1",
        *,
        io_timeout: float = 10.0,
    ) -> None:
        super().__init__((host, 0), _Handler)
        self.controller = controller
        self.token = token
        self.io_timeout = io_timeout
        self.active = 0  # requests being handled (the daemon never exits under one)
        self.counting = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # full: closed at once, nothing read
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="api", daemon=True)
        thread.start()
        return thread
