"""The client against a recorded transport: endpoints as methods, name clashes, errors."""

from __future__ import annotations

import httpx
import orjson
import pytest

from crosscloud import Client, errors

SPEC = {
    "openapi": "3.1.0",
    "paths": {
        "/close": {"post": {"operationId": "close"}},
        "/echo": {"post": {"operationId": "echo"}},
        "/find": {"get": {"operationId": "find"}},
    },
}


def _handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/openapi.json":
        return httpx.Response(200, json=SPEC)
    if request.url.path == "/echo":
        body = orjson.loads(request.content)
        if "text" not in body:
            return httpx.Response(
                422, json={"error": "validation failed", "detail": [{"field": "text"}]}
            )
        return httpx.Response(200, json=body["text"])
    if request.url.path == "/close":
        return httpx.Response(200, json="closed the door")
    if request.url.path == "/find":
        return httpx.Response(200, json=dict(request.url.params))
    return httpx.Response(404, json={"error": "not found", "detail": request.url.path})


@pytest.fixture
def client() -> Client:
    return Client("http://svc", token="t", transport=httpx.MockTransport(_handler))


def test_endpoints_are_keyword_methods(client: Client) -> None:
    assert client.echo(text="hi") == "hi"
    assert client.find(q="a") == {"q": "a"}
    assert "echo" in dir(client)


def test_an_endpoint_named_like_a_client_method_is_still_reachable(client: Client) -> None:
    assert client.endpoints.close() == "closed the door"
    assert client.call("close") == "closed the door"
    client.close()  # the client's own close still closes the client


def test_server_errors_become_typed_exceptions(client: Client) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        client.echo(txt="hi")
    assert (caught.value.status, caught.value.detail) == (422, [{"field": "text"}])
    with pytest.raises(errors.UserError, match="the service has: close, echo, find"):
        client.call("nope")
    with pytest.raises(AttributeError):
        client.nope  # noqa: B018
