"""Residency as tables: which zone a request is in (token first, then header), and which
placements may serve it. Nothing outside a zone may ever serve a request in it."""

from __future__ import annotations

import pytest

from crosscloud.planning import residency

ZONES = {
    "eu": ("aws/eu-west-1", "gcp/europe-west4"),
    "us": ("aws/us-east-1",),
}


@pytest.mark.parametrize(
    ("placement", "zone", "allowed"),
    [
        ("aws/eu-west-1", "eu", True),
        ("gcp/europe-west4", "eu", True),
        ("aws/us-east-1", "eu", False),
        ("aws/us-east-1", "us", True),
        ("aws/eu-west-1", "us", False),
        ("aws/eu-west-1", None, True),  # no zone: anywhere
        ("aws/us-east-1", None, True),
        ("aws/eu-west-1", "apac", False),  # a zone the service does not declare: nowhere
        ("aws/EU-WEST-1", "eu", False),  # ids are compared as written (normalized upstream)
    ],
)
def test_may_serve(placement: str, zone: str | None, allowed: bool) -> None:
    assert residency.may_serve(placement, zone, ZONES) is allowed


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("eu", ["aws/eu-west-1", "gcp/europe-west4"]),
        ("us", ["aws/us-east-1"]),
        (None, ["aws/us-east-1", "aws/eu-west-1", "azure/eastus", "gcp/europe-west4"]),
        ("apac", []),
    ],
)
def test_serving_keeps_the_order_and_drops_the_rest(zone: str | None, expected: list[str]) -> None:
    placements = ["aws/us-east-1", "aws/eu-west-1", "azure/eastus", "gcp/europe-west4"]
    assert residency.serving(placements, zone, ZONES) == expected


@pytest.mark.parametrize(
    ("header", "token_zone", "zone", "status", "says"),
    [
        (None, None, None, None, None),  # neither: no residency
        ("eu", None, "eu", None, None),
        ("us", None, "us", None, None),
        ("apac", None, None, 400, "unknown residency zone 'apac'; zones of this service: eu, us"),
        ("EU", None, None, 400, "unknown residency zone 'EU'"),
        ("eu, us", None, None, 400, "unknown residency zone 'eu, us'"),  # a repeated header
        ("", None, None, 400, "unknown residency zone ''"),
        (None, "eu", "eu", None, None),  # the token's zone
        ("eu", "eu", "eu", None, None),  # the header may repeat it
        ("us", "eu", None, 403, "bound to residency zone 'eu'; the request asked for 'us'"),
        ("apac", "eu", None, 403, "bound to residency zone 'eu'"),
        (None, "apac", None, 403, "'apac', which this service does not declare"),
    ],
)
def test_request_zone(
    header: str | None,
    token_zone: str | None,
    zone: str | None,
    status: int | None,
    says: str | None,
) -> None:
    found, refusal = residency.request_zone(header=header, token_zone=token_zone, zones=ZONES)
    assert found == zone
    if status is None:
        assert refusal is None
    else:
        assert refusal is not None and refusal[0] == status
        assert says is not None and says in refusal[1]


def test_a_service_without_zones_refuses_every_zone_header() -> None:
    _, refusal = residency.request_zone(header="eu", token_zone=None, zones={})
    assert refusal == (400, "unknown residency zone 'eu'; zones of this service: none declared")
