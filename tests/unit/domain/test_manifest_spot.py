"""`spot:` and `scaling.minFailureDomains` in the manifest: defaults, and every bad value
refused with the field path and what is allowed."""

from __future__ import annotations

import pytest
import yaml

from crosscloud import errors
from crosscloud.domain import manifest


def _load(
    spot: object, placements: list[dict[str, object]], **scaling: object
) -> manifest.Manifest:
    service: dict[str, object] = {"name": "svc", "source": "./s.py:S", "spot": spot}
    if scaling:
        service["scaling"] = scaling
    doc = {
        "apiVersion": "crosscloud.dev/v1",
        "kind": "CloudDeployment",
        "metadata": {"name": "demo"},
        "spec": {"services": [service], "placements": placements},
    }
    return manifest.load_manifest(yaml.safe_dump(doc, sort_keys=False), "test.yaml")


TWO_LOCAL = [{"provider": "local", "region": "a"}, {"provider": "local", "region": "b"}]
TWO_CLOUDS = [
    {"provider": "aws", "region": "us-west-2", "context": "x"},
    {"provider": "gcp", "region": "us-central1", "context": "y"},
]


def test_defaults() -> None:
    spec = _load({}, TWO_LOCAL).service("svc")
    assert spec.spot == manifest.SpotSpec(
        base_on_demand=0, dynamic_fallback=True, overprovision=1, spread_over="region"
    )
    assert spec.scaling.min_failure_domains is None
    assert _load(None, TWO_LOCAL).service("svc").spot is None


def test_values_are_read() -> None:
    spot = {"baseOnDemand": 1, "dynamicFallback": False, "overprovision": 2, "spreadOver": "cloud"}
    spec = _load(spot, TWO_CLOUDS, minFailureDomains=3, maxReplicas=4).service("svc")
    assert spec.spot == manifest.SpotSpec(
        base_on_demand=1, dynamic_fallback=False, overprovision=2, spread_over="cloud"
    )
    assert spec.scaling.min_failure_domains == 3


@pytest.mark.parametrize(
    ("spot", "placements", "scaling", "expected"),
    [
        (
            {"baseOnDemand": -1},
            TWO_LOCAL,
            {},
            "spot.baseOnDemand: -1 should be greater than or equal to 0",
        ),
        ({"overprovision": "two"}, TWO_LOCAL, {}, "spot.overprovision: 'two'"),
        ({"dynamicFallback": "maybe"}, TWO_LOCAL, {}, "spot.dynamicFallback: 'maybe'"),
        (
            {"spreadOver": "zone"},
            TWO_LOCAL,
            {},
            "spot.spreadOver: 'zone' is not allowed (expected 'region' or 'cloud')",
        ),
        (
            {"extra": 1},
            TWO_LOCAL,
            {},
            "spot.extra: unknown field 'extra' (allowed here: baseOnDemand",
        ),
        # every local region is one cloud: spread over clouds is impossible
        ({"spreadOver": "cloud"}, TWO_LOCAL, {}, "runs on spot in 1 cloud(s) (local/a, local/b)"),
        (
            {},
            TWO_LOCAL[:1],
            {},
            "runs on spot in 1 region(s) (local/a); spot needs placements in at least 2 regions",
        ),
        (
            {},
            TWO_LOCAL,
            {"minFailureDomains": 0},
            "scaling.minFailureDomains: 0 should be greater than or equal to 1",
        ),
        (
            {},
            TWO_LOCAL,
            {"minFailureDomains": 3, "maxReplicas": 2},
            "scaling.minFailureDomains: minFailureDomains 3 needs a replica in each of 3"
            " placements, more than maxReplicas 2",
        ),
    ],
)
def test_bad_values_are_refused(
    spot: object, placements: list[dict[str, object]], scaling: dict[str, object], expected: str
) -> None:
    with pytest.raises(errors.ManifestError) as caught:
        _load(spot, placements, **scaling)
    assert expected in str(caught.value)
    assert "test.yaml:" in str(caught.value)
