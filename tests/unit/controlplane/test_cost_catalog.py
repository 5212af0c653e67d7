"""The user's price catalog for the cost ledger (`up --catalog`): stored with the
deployment, kept by a later apply that gives none, refused with its bad line named, and
used to price cloud replicas (its rows win over the shipped ones)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosscloud import errors
from crosscloud.adapters.store.memory import MemoryStore
from crosscloud.controlplane import costs, operations, records
from crosscloud.controlplane.clusters import ClusterSync
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import state

pytestmark = pytest.mark.timeout(60)

LOCAL = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: shop}
spec:
  services: [{name: api, source: service.py:Api}]
  placements: [{provider: local, region: a}]
"""
CLOUD = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: shop}
spec:
  services: [{name: api, image: r.example.com/api:1, resources: {cpu: 1, memory: 2Gi}}]
  placements: [{provider: aws, region: us-east-1, context: eks}]
"""
PRICES = """\
provider,region,instance_type,accelerator,accelerator_count,vcpus,memory_gib,price_hour,spot_price_hour
aws,us-east-1,tiny.cheap,,0,1,2,0.01,0.004
"""


def _apply(shared: Shared, tmp_path: Path, catalog: str | None) -> None:
    (tmp_path / "service.py").write_text("class Api: ...\n")
    operations.apply(
        shared,
        cluster_sync=ClusterSync(),
        text=LOCAL,
        path=str(tmp_path / "crosscloud.yaml"),
        catalog=catalog,
    )


def _stored(shared: Shared) -> str:
    record = shared.store.get_deployment("shop")
    assert record is not None
    return records.submitted_of(record).catalog


def test_the_catalog_is_stored_kept_and_replaced_without_a_new_version(tmp_path: Path) -> None:
    shared = Shared(store=MemoryStore(), clock=lambda: 100.0)
    _apply(shared, tmp_path, PRICES)
    assert _stored(shared) == PRICES
    _apply(shared, tmp_path, None)  # `up` without --catalog keeps it
    assert _stored(shared) == PRICES
    _apply(shared, tmp_path, PRICES.replace("0.01", "0.02"))
    assert "0.02" in _stored(shared)
    assert shared.store.get_deployment("shop").version == 1  # type: ignore[union-attr]


def test_a_bad_catalog_is_refused_with_its_line_and_nothing_stored(tmp_path: Path) -> None:
    shared = Shared(store=MemoryStore())
    with pytest.raises(errors.ManifestError, match=r"--catalog:2"):
        _apply(shared, tmp_path, PRICES.replace("0.01", "cheap"))
    assert shared.store.get_deployment("shop") is None


def test_cloud_replicas_are_priced_from_the_users_rows() -> None:
    submitted = records.Submitted(text=CLOUD, path="/app/crosscloud.yaml", catalog=PRICES)
    record = state.DeploymentRecord("shop", submitted.dumps(), "h", version=1)
    deployed = records.Deployed(record, submitted, submitted.parse())
    replica = state.ReplicaRecord(
        id="r1",
        deployment="shop",
        service="api",
        placement="aws/us-east-1",
        version=1,
        started_at=50.0,
    )
    spot = state.ReplicaRecord(
        id="r2",
        deployment="shop",
        service="api",
        placement="aws/us-east-1",
        version=1,
        started_at=50.0,
        capacity="spot",
    )
    found = costs.billed([replica, spot], [deployed], now=100.0)
    assert [(i.price_hour, i.capacity) for i in found] == [(0.01, "on-demand"), (0.004, "spot")]
    plain = records.Submitted(text=CLOUD, path="/app/crosscloud.yaml")
    shipped = costs.billed([replica], [records.Deployed(record, plain, plain.parse())], now=100.0)
    assert shipped[0].price_hour > 0.01  # the shipped catalog has no such cheap type
