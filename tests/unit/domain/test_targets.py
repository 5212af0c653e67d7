"""`target_of`: the one place that says which target runs a placement."""

from __future__ import annotations

import pytest

from crosscloud.domain import targets
from crosscloud.domain.targets import Target


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        ("local/default", Target.LOCAL),
        ("local/region-a", Target.LOCAL),
        ("local/auto", Target.LOCAL),  # a local placement without a region
        ("aws/us-west-2", Target.CLUSTER),
        ("azure/eastus", Target.CLUSTER),
        ("gcp/us-central1", Target.CLUSTER),
        ("localhost/x", Target.CLUSTER),  # the provider is the whole first part
    ],
)
def test_target_of(placement: str, expected: Target) -> None:
    assert targets.target_of(placement) is expected
