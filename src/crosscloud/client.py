"""`Client`: call a crosscloud service (a replica or the gateway) from Python.

The client reads the service's /openapi.json once and exposes each endpoint as a method
taking keyword arguments: `Client(url).embed(texts=["hi"])`. Every endpoint is also
reachable as `client.endpoints.NAME(...)` and `client.call("NAME", ...)`, so an endpoint
whose name matches one of the client's own methods (`call`, `close`) still works.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any

import httpx
import orjson

from crosscloud import errors
from crosscloud.adapters.security import tls


class Client:
    """A synchronous client for one service; a context manager that closes its pool."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float | None = 60.0,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=verify,
        )
        spec = self._get("/openapi.json")
        self._operations: dict[str, tuple[str, str, bool]] = {}
        for path, ops in spec.get("paths", {}).items():
            for method, op in ops.items():
                stream = bool(op.get("x-crosscloud", {}).get("stream"))
                self._operations[op.get("operationId", path.strip("/"))] = (
                    method.upper(),
                    path,
                    stream,
                )
        self.endpoints = SimpleNamespace(**{n: self._method(n) for n in self._operations})

    def call(self, endpoint: str, /, **params: Any) -> Any:
        """Call `endpoint` with `params`; a stream endpoint returns an iterator of items."""
        try:
            method, path, stream = self._operations[endpoint]
        except KeyError:
            known = ", ".join(sorted(self._operations))
            raise errors.UserError(f"no endpoint {endpoint!r}; the service has: {known}") from None
        if stream:
            return self._stream(method, path, params)
        if method == "GET":
            response = self._http.get(path, params=params)
        else:
            response = self._http.post(
                path, content=orjson.dumps(params), headers={"content-type": "application/json"}
            )
        return _decode(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # Only reached for names that are not the client's own attributes.
        operations = self.__dict__.get("_operations", {})
        if name in operations:
            return self._method(name)
        raise AttributeError(f"{type(self).__name__} has no endpoint or attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._operations))

    def _method(self, name: str) -> Callable[..., Any]:
        def method(**params: Any) -> Any:
            return self.call(name, **params)

        method.__name__ = name
        return method

    def _get(self, path: str) -> Any:
        try:
            response = self._http.get(path)
        except httpx.HTTPError as exc:
            raise errors.TransientError(f"cannot reach {self._http.base_url}: {exc}") from None
        return _decode(response)

    def _stream(self, method: str, path: str, params: dict[str, Any]) -> Iterator[Any]:
        request = (
            self._http.build_request(
                method,
                path,
                content=orjson.dumps(params),
                headers={"content-type": "application/json"},
            )
            if method == "POST"
            else self._http.build_request(method, path, params=params)
        )
        response = self._http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                _decode(response)
            text = response.headers.get("content-type", "").startswith("text/plain")
            if text:
                yield from response.iter_text()
            else:
                for line in response.iter_lines():
                    if line:
                        yield orjson.loads(line)
        finally:
            response.close()


def _decode(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return orjson.loads(response.content) if response.content else None
    try:
        body = orjson.loads(response.content)
        error, detail = body.get("error", response.reason_phrase), body.get("detail")
    except (orjson.JSONDecodeError, AttributeError):
        error, detail = response.reason_phrase, response.text[:500]
    raise errors.http_error(response.status_code, error, detail)


_CLIENTS: dict[str, tuple[ssl.SSLContext | None, Client]] = {}
_WORKLOAD: list[tls.Reloading] = []  # this replica's certificate, once loaded
_LOADING = threading.Lock()


def _workload_context() -> ssl.SSLContext | None:
    """This replica's client context for mutual TLS (its own workload certificate, from
    CROSSCLOUD_TLS_CERT/CROSSCLOUD_TLS_CA), following the files as they are renewed; None
    when the deployment runs without mutual TLS."""
    cert, ca = os.environ.get("CROSSCLOUD_TLS_CERT"), os.environ.get("CROSSCLOUD_TLS_CA")
    if not cert or not ca:
        return None
    with _LOADING:
        if not _WORKLOAD:
            files = tls.TlsFiles(cert=Path(cert), key=None, ca=Path(ca))
            _WORKLOAD.append(tls.Reloading(files, server=False).start())
    return _WORKLOAD[0].current


def service_urls() -> dict[str, str]:
    """The other services of this deployment, from CROSSCLOUD_SERVICE_URLS
    (`name=url,name=url`, set by the control plane on every replica)."""
    raw = os.environ.get("CROSSCLOUD_SERVICE_URLS", "")
    pairs = (item.partition("=") for item in raw.split(",") if item)
    return {name: url for name, _, url in pairs}


def call(service: str, endpoint: str, /, **params: Any) -> Any:
    """Call `endpoint` of another service of the same deployment, by name, through the
    gateway (so it reaches a ready replica, with retries and failover)."""
    urls = service_urls()
    if service not in urls:
        known = ", ".join(sorted(urls)) or "none (not running under `crosscloud up`)"
        raise errors.UserError(f"no service {service!r} to call; known: {known}")
    ctx = _workload_context()
    cached = _CLIENTS.get(service)
    if cached is None or cached[0] is not ctx:  # first call, or a renewed certificate
        token = os.environ.get("CROSSCLOUD_TOKEN")
        client = Client(urls[service], token=token, verify=True if ctx is None else ctx)
        _CLIENTS[service], old = (ctx, client), cached
        if old is not None:
            old[1].close()
        cached = _CLIENTS[service]
    return cached[1].call(endpoint, **params)
