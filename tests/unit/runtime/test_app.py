"""The runtime ASGI app in-process: routing, validation, errors, auth, limits, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from crosscloud import Resources, Service, endpoint, errors
from crosscloud.runtime.app import ServiceApp
from crosscloud.sdk import definition


class Demo(Service):
    """A service exercising every runtime path."""

    resources = Resources(cpu=1)

    def setup(self) -> None:
        self.calls: list[int] = []

    @endpoint
    def echo(self, text: str, times: int = 1) -> str:
        return text * times

    @endpoint(method="GET")
    def add(self, a: int, b: int, extra: list[int] | None = None) -> int:
        return a + b + sum(extra or [])

    @endpoint
    def boom(self, secret: str) -> str:
        raise ValueError("bad thing")

    @endpoint
    def refuse(self) -> str:
        raise errors.UserError("texts must not be empty")

    @endpoint(timeout=0.05)
    def slow(self) -> str:
        time.sleep(0.5)
        return "late"

    @endpoint(batch=True, max_batch_size=4)
    def double(self, xs: list[int]) -> list[int]:
        self.calls.append(len(xs))
        return [x * 2 for x in xs]

    @endpoint(batch=True)
    def short(self, xs: list[int]) -> list[int]:
        return xs[:-1]

    @endpoint(stream=True)
    def count(self, n: int) -> Iterator[int]:
        yield from range(n)

    @endpoint(stream=True)
    async def words(self, text: str) -> AsyncIterator[str]:
        for word in text.split():
            yield word + " "


def _app(**kwargs: Any) -> ServiceApp:
    app = ServiceApp(definition.define(Demo), **kwargs)
    app.start_setup().join()
    return app


async def _request(app: ServiceApp, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kwargs)


def call(app: ServiceApp, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return asyncio.run(_request(app, method, path, **kwargs))


@pytest.fixture(scope="module")
def app() -> ServiceApp:
    return _app()


def test_post_returns_the_handlers_result_as_json(app: ServiceApp) -> None:
    r = call(app, "POST", "/echo", json={"text": "ab", "times": 2})
    assert (r.status_code, r.json()) == (200, "abab")
    assert r.headers["content-type"] == "application/json"


def test_get_takes_query_parameters_and_repeated_lists(app: ServiceApp) -> None:
    r = call(app, "GET", "/add", params={"a": "1", "b": "2", "extra": ["3", "4"]})
    assert (r.status_code, r.json()) == (200, 10)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/echo", b"{not json", 400, "invalid JSON"),
        ("POST", "/echo", b'{"text": 3}', 422, "validation failed"),
        ("POST", "/echo", b'{"txt": "x"}', 422, "validation failed"),
        ("POST", "/echo", b"[1, 2]", 422, "validation failed"),
        ("POST", "/nope", b"{}", 404, "not found"),
        ("GET", "/echo", b"", 405, "method not allowed"),
        ("POST", "/refuse", b"{}", 400, "bad request"),
        ("POST", "/slow", b"{}", 504, "timeout"),
        ("POST", "/short", b'{"xs": [1, 2]}', 500, "batch contract broken"),
    ],
)
def test_bad_requests_get_a_json_error_and_a_4xx_or_5xx(
    app: ServiceApp, method: str, path: str, body: bytes, status: int, error: str
) -> None:
    r = call(app, method, path, content=body)
    assert r.status_code == status
    assert r.json()["error"] == error


def test_validation_error_names_the_field_and_expected_type(app: ServiceApp) -> None:
    detail = call(app, "POST", "/double", json={"xs": [1, "x"]}).json()["detail"]
    assert detail == [
        {
            "field": "xs[1]",
            "message": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]


def test_handler_exception_is_500_without_traceback_or_arguments(app: ServiceApp) -> None:
    r = call(app, "POST", "/boom", json={"secret": "hunter2"})
    assert r.status_code == 500
    assert r.json() == {"error": "handler error", "detail": "ValueError: bad thing"}
    assert "Traceback" not in r.text
    assert "hunter2" not in r.text


def test_oversize_body_is_413() -> None:
    small = _app(max_body_size=16)
    r = call(small, "POST", "/echo", json={"text": "x" * 100})
    assert r.status_code == 413
    assert "16 bytes" in r.json()["detail"]


def test_batch_wrong_length_fails_only_that_batch(app: ServiceApp) -> None:
    assert call(app, "POST", "/short", json={"xs": [1]}).status_code == 500
    assert call(app, "POST", "/double", json={"xs": [1, 2]}).json() == [2, 4]


def test_batch_parameters_of_different_lengths_are_422() -> None:
    class Pair(Service):
        @endpoint(batch=True)
        def zip(self, a: list[int], b: list[int]) -> list[int]:
            return [x + y for x, y in zip(a, b, strict=True)]

    pair = ServiceApp(definition.define(Pair))
    pair.start_setup().join()
    r = call(pair, "POST", "/zip", json={"a": [1, 2], "b": [1]})
    assert r.status_code == 422
    assert "same length" in r.json()["detail"]


async def _concurrent(app: ServiceApp, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await asyncio.gather(*(client.post("/double", json=b) for b in bodies))


def test_concurrent_batch_requests_are_merged_and_split_back() -> None:
    fresh = _app()
    bodies = [{"xs": [i, i + 100]} for i in range(6)]
    responses = asyncio.run(_concurrent(fresh, bodies))
    assert [r.json() for r in responses] == [[2 * i, 2 * i + 200] for i in range(6)]
    instance = fresh.instance
    assert isinstance(instance, Demo)
    assert max(instance.calls) <= 4 < sum(instance.calls)  # max_batch_size respected
    assert len(instance.calls) < len(bodies)  # merged, not one call per request


def test_streams_are_chunked_json_lines_or_text_or_sse(app: ServiceApp) -> None:
    lines = call(app, "POST", "/count", json={"n": 3})
    assert lines.headers["content-type"] == "application/x-ndjson"
    assert lines.text == "0\n1\n2\n"
    text = call(app, "POST", "/words", json={"text": "a b"})
    assert text.text == "a b "
    sse = call(app, "POST", "/count", json={"n": 2}, headers={"accept": "text/event-stream"})
    assert sse.headers["content-type"] == "text/event-stream"
    assert sse.text == "data: 0\n\ndata: 1\n\n"


def test_token_guards_endpoints_but_not_health_or_metrics() -> None:
    guarded = _app(token="s3cret")
    assert call(guarded, "POST", "/echo", json={"text": "x"}).status_code == 401
    wrong = {"authorization": "Bearer nope"}
    assert call(guarded, "POST", "/echo", json={"text": "x"}, headers=wrong).status_code == 401
    right = {"authorization": "Bearer s3cret"}
    assert call(guarded, "POST", "/echo", json={"text": "x"}, headers=right).json() == "x"
    assert call(guarded, "GET", "/openapi.json").status_code == 401
    for path in ("/healthz", "/readyz", "/metrics"):
        assert call(guarded, "GET", path).status_code == 200


def test_not_ready_until_setup_has_run() -> None:
    cold = ServiceApp(definition.define(Demo))
    assert call(cold, "GET", "/healthz").status_code == 200
    assert call(cold, "GET", "/readyz").status_code == 503
    r = call(cold, "POST", "/echo", json={"text": "x"})
    assert (r.status_code, r.headers["retry-after"]) == (503, "1")


def test_failed_setup_is_reported_and_fatal() -> None:
    class Broken(Service):
        def setup(self) -> None:
            raise RuntimeError("no weights")

        @endpoint
        def f(self) -> int:
            return 1

    seen: list[BaseException] = []
    broken = ServiceApp(definition.define(Broken), on_fatal=seen.append)
    broken.start_setup().join()
    assert [type(e) for e in seen] == [RuntimeError]
    assert call(broken, "GET", "/readyz").json()["detail"] == "RuntimeError: no weights"


def test_draining_answers_503(app: ServiceApp) -> None:
    drained = _app()
    drained.draining = True
    assert call(drained, "POST", "/echo", json={"text": "x"}).status_code == 503
    assert call(drained, "GET", "/readyz").status_code == 503


def test_metrics_count_requests_by_endpoint_and_status() -> None:
    fresh = _app()
    call(fresh, "POST", "/echo", json={"text": "x"})
    call(fresh, "POST", "/echo", content=b"{")
    call(fresh, "POST", "/double", json={"xs": [1, 2, 3]})
    text = call(fresh, "GET", "/metrics").text
    assert 'crosscloud_requests_total{endpoint="echo",status="200"} 1.0' in text
    assert 'crosscloud_requests_total{endpoint="echo",status="400"} 1.0' in text
    assert 'crosscloud_batch_size_sum{endpoint="double"} 3.0' in text
    assert 'crosscloud_request_duration_seconds_count{endpoint="echo"} 2.0' in text
    assert "crosscloud_requests_in_flight" in text
    assert "crosscloud_batch_queue_items" in text


def test_openapi_document_is_valid_3_1_with_schemas(app: ServiceApp) -> None:
    doc = call(app, "GET", "/openapi.json").json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    body = doc["paths"]["/echo"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["text"]["type"] == "string"
    assert doc["paths"]["/add"]["get"]["parameters"][0]["name"] == "a"


def test_docs_page_is_self_contained(app: ServiceApp) -> None:
    page = call(app, "GET", "/docs")
    assert page.status_code == 200
    assert "openapi.json" in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text
