"""`spec.traffic.limits`: defaults, quantities, and the values refused with a clear line."""

from __future__ import annotations

import pydantic
import pytest

from crosscloud.domain import manifest
from crosscloud.domain.manifest.traffic import TrafficLimits


def test_defaults_match_the_gateways() -> None:
    limits = TrafficLimits()
    assert (limits.header_timeout, limits.body_timeout, limits.idle_timeout) == (10.0, 60.0, 75.0)
    assert limits.max_header_bytes == 32 * 1024 and limits.max_url_bytes == 8 * 1024
    assert limits.max_body_size == 64 * 1024 * 1024 and limits.max_connections == 8192


def test_quantities_are_read() -> None:
    limits = manifest.TrafficSpec.model_validate(
        {"limits": {"headerTimeout": "2s", "idleTimeout": "5m", "maxBodySize": "1Mi"}}
    ).limits
    assert (limits.header_timeout, limits.idle_timeout, limits.max_body_size) == (2.0, 300.0, 2**20)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("headerTimeout", "0s", "more than 0"),
        ("idleTimeout", "soon", "not a duration"),
        ("maxHeaderBytes", "100", "at least 1024"),
        ("maxUrlBytes", 10, "at least 256"),
        ("maxConnections", 0, "greater than or equal to 1"),
        ("maxPipelined", 5000, "less than or equal to 1024"),
        ("maxBodySize", "lots", "not a memory quantity"),
    ],
)
def test_bad_values_are_refused(field: str, value: object, says: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        manifest.TrafficSpec.model_validate({"limits": {field: value}})
    assert says in str(caught.value)
