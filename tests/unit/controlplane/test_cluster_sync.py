"""ClusterSync between passes, with a fake cluster target: placements a new version drops
are deleted even when this process never synced them, and a sync runs outside the pass."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from crosscloud.adapters.kubernetes import model
from crosscloud.adapters.store import memory as memory_store
from crosscloud.controlplane import clusters, records
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import state, targets

pytestmark = pytest.mark.timeout(30)

V1 = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: shop}
spec:
  services: [{name: echo, image: registry.example.com/echo:cc-0123456789abcdef}]
  placements:
    - {provider: aws, region: us-west-2, type: EKS, context: eks, services: [{name: echo}]}
    - {provider: gcp, region: us-central1, type: GKE, context: gke, services: [{name: echo}]}
"""
V2 = V1.replace(
    "    - {provider: gcp, region: us-central1, type: GKE, context: gke, services: [{name: echo}]}\n",
    "",
)


class FakeTarget:
    """Answers like an empty, healthy cluster; records what was asked of which context.
    `hold` (when set) blocks every report until it is released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.hold: threading.Event | None = None

    def apply(
        self, where: model.RenderPlacement, objects: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        self.calls.append(("apply", where.context))
        return [str(o["kind"]) for o in objects]

    def report(
        self, where: model.RenderPlacement, *, deployment: str, version: int = 0
    ) -> targets.PlacementReport:
        if self.hold is not None:
            self.hold.wait(timeout=20)
        self.calls.append(("report", where.context))
        return targets.PlacementReport(f"{where.provider}/{where.region}", (), (), {})

    def rollout(
        self, where: model.RenderPlacement, *, services: Iterable[str]
    ) -> list[targets.ServiceRollout]:
        return []

    def delete(self, where: model.RenderPlacement, *, deployment: str) -> list[str]:
        self.calls.append(("delete", where.context))
        return ["Deployment shop/echo"]

    def pod_log(
        self,
        where: model.RenderPlacement,
        pod: str,
        *,
        tail: int | None = None,
        since: str | None = None,
    ) -> list[targets.LogLine]:
        return []


def _shared(store: memory_store.MemoryStore) -> Shared:
    return Shared(store=store)


def _events(store: memory_store.MemoryStore) -> list[str]:
    return [f"{e.kind}: {e.message}" for e in store.list_events()]


def _deps(store: memory_store.MemoryStore, text: str, version: int) -> list[records.Deployed]:
    submitted = records.Submitted(text=text, path="/tmp/crosscloud.yaml")
    record = state.DeploymentRecord(
        name="shop",
        manifest_json=submitted.dumps(),
        manifest_hash=f"h{version}",
        version=version,
        created_at=0.0,
        updated_at=0.0,
    )
    store.put_deployment(record)
    return [records.Deployed(record, submitted, submitted.parse())]


def _settled(sync: clusters.ClusterSync) -> None:
    for _job, future in list(sync.flight.values()):
        future.result(timeout=20)


def test_a_placement_the_new_version_drops_is_deleted_without_an_earlier_sync() -> None:
    store, target = memory_store.MemoryStore(), FakeTarget()
    sync = clusters.ClusterSync(target=target)
    shared = _shared(store)
    v1 = _deps(store, V1, 1)
    sync.remember(v1[0].spec, version=1)  # what `up` of version 2 does before storing it
    v2 = _deps(store, V2, 2)
    sync.step(shared, v2)
    assert ("delete", "gke") in target.calls
    assert any("ClusterDeleted" in e and "gcp/us-central1" in e for e in _events(store))
    _settled(sync)
    assert ("delete", "eks") not in target.calls


def test_step_does_not_wait_for_a_cluster_and_records_it_on_a_later_pass() -> None:
    store, target = memory_store.MemoryStore(), FakeTarget()
    target.hold = threading.Event()
    sync = clusters.ClusterSync(target=target)
    shared = _shared(store)
    deps = _deps(store, V1, 1)
    sync.step(shared, deps)
    sync.step(shared, deps)  # both clusters still answering
    # had step waited, the held reports (20 s) would be in by now
    assert not any(kind == "report" for kind, _ctx in target.calls)
    assert set(sync.flight) == {("shop", "aws/us-west-2"), ("shop", "gcp/us-central1")}
    target.hold.set()
    _settled(sync)
    sync.step(shared, deps)
    status = {c["placement"]: c["reachable"] for c in sync.status("shop")}
    assert status == {"aws/us-west-2": True, "gcp/us-central1": True}
    assert any("ClusterApplied" in e for e in _events(store))
