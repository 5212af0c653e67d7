"""Region names per provider and the nearest valid names for a wrong one."""

from __future__ import annotations

import pytest

from crosscloud.domain import regions


@pytest.mark.parametrize(
    ("provider", "region", "valid"),
    [
        ("aws", "us-east-1", True),
        ("aws", "eastus", False),
        ("azure", "eastus", True),
        ("azure", "us-east-1", False),
        ("gcp", "us-central1", True),
        ("gcp", "us-central-1", False),
        ("local", "region-a", True),
        ("local", "Region_A", False),
        ("local", "-a", False),
        ("oracle", "us-ashburn-1", False),
    ],
)
def test_is_valid(provider: str, region: str, valid: bool) -> None:
    assert regions.is_valid(provider, region) is valid


@pytest.mark.parametrize(
    ("provider", "region", "nearest"),
    [
        ("azure", "us-east-1", ("eastus", "eastus2")),  # same metro first
        ("gcp", "us-east-1", ("us-east1", "us-east4", "us-east5")),  # spelling, then metro
        ("aws", "westeurope", ("eu-west-1", "eu-west-2", "eu-west-3")),  # same area
        ("aws", "us-west2", ("us-west-2", "us-west-1")),  # a slip before GCP's name
        ("azure", "zzzz", ()),
        ("local", "us-east-1", ()),
    ],
)
def test_nearest(provider: str, region: str, nearest: tuple[str, ...]) -> None:
    assert regions.nearest(provider, region) == nearest


def test_every_provider_has_regions_in_three_areas_or_more() -> None:
    for provider in ("aws", "azure", "gcp"):
        assert len(regions.REGIONS[provider]) >= 30
        assert len(set(regions.REGIONS[provider])) == len(regions.REGIONS[provider])


def test_describe_names_the_owner_and_the_nearest() -> None:
    text = regions.describe("azure", "us-east-1")
    assert text == (
        "'us-east-1' is not an Azure region (it is an AWS name); nearest valid names:"
        " eastus, eastus2"
    )
