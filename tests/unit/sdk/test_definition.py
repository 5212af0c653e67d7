"""Introspection of Service classes: what is accepted, what is refused and why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pydantic
import pytest

from crosscloud import Resources, Service, endpoint, errors
from crosscloud.sdk import definition


class Good(Service):
    """A service with every kind of endpoint."""

    resources = Resources(cpu="500m", memory="1Gi", accelerators="A100:2")
    requirements = ["numpy"]

    @endpoint
    def plain(self, text: str, times: int = 1) -> str:
        return text * times

    @endpoint(method="GET")
    def lookup(self, key: str) -> dict[str, str]:
        return {"key": key}

    @endpoint(batch=True, max_batch_size=8, max_wait_ms=2)
    def many(self, xs: list[int]) -> list[int]:
        return xs

    @endpoint(stream=True)
    def tokens(self, n: int) -> Iterator[str]:
        yield from (str(i) for i in range(n))

    @endpoint(name="renamed")
    async def other(self) -> None:
        return None


def test_definition_lists_every_endpoint_with_its_options() -> None:
    d = definition.define(Good)
    assert d.name == "Good"
    assert d.requirements == ("numpy",)
    assert d.resources.accelerators[0].name == "A100"
    names = {e.name: e for e in d.endpoints}
    assert set(names) == {"plain", "lookup", "many", "tokens", "renamed"}
    assert names["lookup"].method == "GET"
    assert names["many"].options.max_batch_size == 8
    assert names["tokens"].text_stream
    assert names["renamed"].is_async
    assert names["plain"].params == ("text", "times")


def test_request_schema_comes_from_type_hints() -> None:
    plain = definition.define(Good).endpoint("plain")
    schema = plain.request_model.model_json_schema()
    assert schema["properties"]["text"]["type"] == "string"
    assert schema["properties"]["times"]["default"] == 1
    assert schema["required"] == ["text"]
    assert schema["additionalProperties"] is False


def test_unknown_endpoint_names_the_known_ones() -> None:
    with pytest.raises(errors.UserError, match="has: .*plain"):
        definition.define(Good).endpoint("nope")


def _service(**members: object) -> type[Service]:
    return type("Broken", (Service,), members)


def _batch_not_list(self: object, x: int) -> list[int]:
    return [x]


def _no_hint(self: object, x):  # type: ignore[no-untyped-def]
    return x


def _batch_returns_int(self: object, xs: list[int]) -> int:
    return 1


def _gen_without_stream(self: object) -> Iterator[int]:
    yield 1


def _healthz(self: object) -> int:
    return 1


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({}, "has no endpoints"),
        ({"f": endpoint(batch=True)(_batch_not_list)}, "batch endpoint takes lists"),
        ({"f": endpoint(_no_hint)}, "has no type hint"),
        ({"f": endpoint(batch=True)(_batch_returns_int)}, "returns a list"),
        ({"f": endpoint(_gen_without_stream)}, "needs stream=True"),
        ({"healthz": endpoint(_healthz)}, "reserved"),
        ({"resources": {"cpu": 1}, "f": endpoint(_healthz)}, "must be a crosscloud.Resources"),
    ],
)
def test_invalid_services_are_refused_with_a_reason(
    members: dict[str, object], message: str
) -> None:
    with pytest.raises(errors.ServiceDefinitionError, match=message):
        definition.define(_service(**members))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_batch_size": 0}, "max_batch_size must be at least 1"),
        ({"max_wait_ms": -1}, "max_wait_ms cannot be negative"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"timeout": 0}, "timeout must be more than 0"),
        ({"method": "PUT"}, "method must be 'GET' or 'POST'"),
        ({"batch": True, "stream": True}, "cannot be both"),
    ],
)
def test_endpoint_options_are_validated(options: dict[str, object], message: str) -> None:
    with pytest.raises(errors.ServiceDefinitionError, match=message):
        endpoint(**options)


def test_annotated_constraints_are_kept_in_validation_and_schema() -> None:
    class Constrained(Service):
        @endpoint(batch=True)
        def f(self, xs: Annotated[list[int], pydantic.Field(max_length=2)]) -> list[int]:
            return xs

    ep = definition.define(Constrained).endpoint("f")
    assert ep.request_model.model_json_schema()["properties"]["xs"]["maxItems"] == 2
    with pytest.raises(pydantic.ValidationError):
        ep.request_model.model_validate({"xs": [1, 2, 3]})
