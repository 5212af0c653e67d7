"""Table tests for what one replica-hour costs at a placement (catalog, spot, pricePerHour)."""

from __future__ import annotations

import pytest

from crosscloud import errors
from crosscloud.domain import catalog, manifest
from crosscloud.planning import replica_price

CSV = """\
provider,region,instance_type,accelerator,accelerator_count,vcpus,memory_gib,price_hour,spot_price_hour
aws,us-east-1,m5.large,,0,2,8,0.096,0.04
aws,us-east-1,m5.xlarge,,0,4,16,0.192,
aws,us-east-1,g4dn.xlarge,T4,1,4,16,0.526,0.2
gcp,us-central1,n2-standard-2,,0,2,8,0.097,0.03
"""
ROWS = catalog.parse_catalog(CSV, "prices.csv")


def doc(placement: str, resources: str = "{cpu: 1, memory: 2Gi}") -> manifest.Manifest:
    text = f"""\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {{name: shop}}
spec:
  services: [{{name: api, image: r.example.com/api:1, resources: {resources}}}]
  placements:
    - {placement}
"""
    return manifest.load_manifest(text, "crosscloud.yaml")


EKS = "{provider: aws, region: us-east-1, context: eks"


@pytest.mark.parametrize(
    ("placement", "resources", "where", "expected"),
    [
        # cheapest type that fits: m5.large holds 2 one-CPU replicas -> half its price each
        (EKS + "}", "{cpu: 1, memory: 2Gi}", "aws/us-east-1", (0.048, 0.02, "m5.large")),
        # 3 CPUs: only m5.xlarge fits (one replica); no spot price there
        (EKS + "}", "{cpu: 3, memory: 2Gi}", "aws/us-east-1", (0.192, None, "m5.xlarge")),
        # the placement's instanceType only
        (
            EKS + ", instanceType: m5.xlarge}",
            "{cpu: 1, memory: 2Gi}",
            "aws/us-east-1",
            (0.048, None, "m5.xlarge"),
        ),
        # an accelerator needs a row with it
        (
            EKS + "}",
            "{cpu: 1, memory: 2Gi, accelerators: 'T4:1'}",
            "aws/us-east-1",
            (0.526, 0.2, "g4dn.xlarge"),
        ),
        # the manifest's price wins, for spot too
        (EKS + ", pricePerHour: 0.7}", "{cpu: 1, memory: 2Gi}", "aws/us-east-1", (0.7, 0.7, "")),
        # a spot price of the manifest's own, over the catalog's or pricePerHour
        (
            EKS + ", spotPricePerHour: 0.01}",
            "{cpu: 1, memory: 2Gi}",
            "aws/us-east-1",
            (0.048, 0.01, "m5.large"),
        ),
        (
            "{provider: local, region: a, pricePerHour: 1, spotPricePerHour: 0.3}",
            "{cpu: 1, memory: 2Gi}",
            "local/a",
            (1.0, 0.3, ""),
        ),
        # local: free unless priced
        ("{provider: local, region: a}", "{cpu: 1, memory: 2Gi}", "local/a", (0.0, None, "")),
        (
            "{provider: local, region: a, pricePerHour: 0.25}",
            "{cpu: 1, memory: 2Gi}",
            "local/a",
            (0.25, 0.25, ""),
        ),
    ],
)
def test_price_of(
    placement: str, resources: str, where: str, expected: tuple[float, float | None, str]
) -> None:
    found = replica_price.price_of(
        doc(placement, resources), service="api", placement=where, rows=ROWS
    )
    assert (found.on_demand, found.spot, found.instance_type) == pytest.approx(expected)
    assert not found.unpriced


def test_a_cloud_region_the_catalog_lacks_is_unpriced() -> None:
    placement = "{provider: azure, region: eastus, context: aks}"
    found = replica_price.price_of(
        doc(placement), service="api", placement="azure/eastus", rows=ROWS
    )
    assert found.unpriced and found.on_demand == 0.0


def test_billed_uses_spot_only_for_spot_replicas() -> None:
    price = replica_price.Price(on_demand=1.0, spot=0.3)
    assert price.billed(spot=True) == 0.3
    assert price.billed(spot=False) == 1.0
    assert replica_price.Price(on_demand=1.0).billed(spot=True) == 1.0


def test_price_per_hour_must_not_be_negative() -> None:
    with pytest.raises(errors.ManifestError, match="pricePerHour"):
        doc("{provider: local, region: a, pricePerHour: -1}")
