"""The control plane's HTTP API for the CLI, on 127.0.0.1 with a bearer token.

Not a request path for users' traffic (a few calls per CLI command), so the standard
library's threading HTTP server is enough and adds no dependency."""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from crosscloud import errors
from crosscloud.controlplane import operations, token_ops
from crosscloud.controlplane.controller import Controller

log = logging.getLogger("crosscloud.controlplane")
MAX_BODY = 4 * 2**20

Route = Callable[[Controller, dict[str, Any]], dict[str, Any]]


def _apply(ctl: Controller, body: dict[str, Any]) -> dict[str, Any]:
    return operations.apply(ctl, text=str(body["text"]), path=str(body["path"]))


def _scale(ctl: Controller, body: dict[str, Any]) -> dict[str, Any]:
    return operations.scale(
        ctl,
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
GET: dict[str, Route] = {"/v1/status": _status, "/v1/health": lambda _c, _q: {"ok": True}}
POST.update({"/v1/tokens": token_ops.create, "/v1/tokens/revoke": token_ops.revoke})
GET.update({"/v1/tokens": token_ops.list_all, "/v1/logs": _logs})


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)  # never the headers: they carry the token

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._handle(GET.get(url.path), query)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self._send(413, {"error": "payload too large", "detail": f"limit {MAX_BODY} bytes"})
            return
        try:
            body = orjson.loads(self.rfile.read(length) or b"{}")
        except orjson.JSONDecodeError as exc:
            self._send(400, {"error": "invalid JSON", "detail": str(exc)})
            return
        self._handle(POST.get(urlsplit(self.path).path), body)

    def _handle(self, route: Route | None, data: dict[str, Any]) -> None:
        with self.server.counting:
            self.server.active += 1
        try:
            self._dispatch(route, data)
        finally:
            with self.server.counting:
                self.server.active -= 1

    def _dispatch(self, route: Route | None, data: dict[str, Any]) -> None:
        if not self._authorized():
            self._send(401, {"error": "unauthorized", "detail": "a valid bearer token is required"})
            return
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

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, controller: Controller, token: str, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _Handler)
        self.controller = controller
        self.token = token
        self.active = 0  # requests being handled (the daemon never exits under one)
        self.counting = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="api", daemon=True)
        thread.start()
        return thread
