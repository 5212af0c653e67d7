"""The control plane's side of isolated regions, without root: which regions it makes
(with the ports of their recorded replicas and the gateway's port), which it removes
(not wanted and holding no replica), and the one line it says when it cannot."""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import pytest

from crosscloud.adapters.local import links
from crosscloud.adapters.store.memory import MemoryStore
from crosscloud.cli import network_view
from crosscloud.controlplane import networks, records
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import manifest, regionnet, state

pytestmark = pytest.mark.timeout(30)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: shop}
spec:
  services: [{name: api, source: service.py:Api}]
  placements:
    - {provider: local, region: a, network: {isolated: true}}
    - {provider: local, region: b, network: {isolated: true, latency: 80ms, jitter: 5ms}}
    - {provider: local, region: c}
"""


class FakeLinks:
    """links.Links's surface, recording what it was asked to make and remove."""

    def __init__(self, owned: Set[str] = frozenset(), configs: dict[str, Any] | None = None):
        self.made: list[links.Wanted] = []
        self.removed: list[str] = []
        self._owned = set(owned)
        self.configs = configs or {}

    def netns_name(self, deployment: str, placement: str) -> str:
        return f"cc-x-{deployment}-{placement.partition('/')[2]}"

    def ensure(self, want: links.Wanted) -> regionnet.RegionNet:
        self.made.append(want)
        self._owned.add(self.netns_name(want.deployment, want.placement))
        return regionnet.region_net(self.netns_name(want.deployment, want.placement), taken=set())

    def owned(self) -> list[str]:
        return sorted(self._owned)

    def config(self, name: str) -> dict[str, Any] | None:
        return self.configs.get(name)

    def remove(self, name: str) -> None:
        self.removed.append(name)
        self._owned.discard(name)


def _deployed() -> records.Deployed:
    spec = manifest.load_manifest(MANIFEST, "crosscloud.yaml")
    record = state.DeploymentRecord("shop", "{}", "h", 1)
    return records.Deployed(record, records.Submitted(MANIFEST, "crosscloud.yaml"), spec)


def _replica(rid: str, placement: str, port: int, host: str = "127.0.0.1") -> state.ReplicaRecord:
    return state.ReplicaRecord(rid, "shop", "api", placement, 1, host=host, port=port)


def test_only_isolated_local_regions_are_made() -> None:
    assert [p.id for p in networks.isolated(_deployed().spec)] == ["local/a", "local/b"]


def test_each_isolated_region_is_made_with_its_replicas_ports_and_the_gateways() -> None:
    shared = Shared(store=MemoryStore())
    shared.store.upsert_replica(_replica("r1", "local/a", 7001))
    shared.store.upsert_replica(_replica("r2", "local/a", 7002))
    shared.store.upsert_replica(_replica("r3", "local/c", 7003))  # not isolated
    fake = FakeLinks()
    sync = networks.NetworkSync(fake, reason=None)  # type: ignore[arg-type]
    sync.step(shared, [_deployed()], egress=lambda: (9000,))
    made = {w.placement: w for w in fake.made}
    assert set(made) == {"local/a", "local/b"}
    assert made["local/a"].ports == (7001, 7002) and made["local/a"].egress == (9000,)
    assert made["local/b"].ports == ()
    assert made["local/b"].profile == regionnet.LinkProfile(latency=0.08, jitter=0.005)
    assert fake.removed == []


def test_a_region_nobody_wants_goes_once_no_replica_points_into_it() -> None:
    shared = Shared(store=MemoryStore())
    old, busy = "cc-x-gone-a", "cc-x-gone-b"
    fake = FakeLinks(
        owned={old, busy},
        configs={old: {"listen": "10.213.0.1"}, busy: {"listen": "10.213.0.5"}},
    )
    draining = _replica("r9", "local/b", 7009, host="10.213.0.5")  # still stopping there
    shared.store.upsert_replica(draining)
    sync = networks.NetworkSync(fake, reason=None)  # type: ignore[arg-type]
    sync.step(shared, [_deployed()], egress=lambda: (9000,))
    assert fake.removed == [old]  # the wanted ones and the busy one stay
    assert set(fake.owned()) == {busy, "cc-x-shop-a", "cc-x-shop-b"}
    shared.store.delete_replica("r9")
    assert sync.prune(shared, keep=sync.desired([])) == [busy, "cc-x-shop-a", "cc-x-shop-b"]


def test_without_root_regions_share_loopback_and_it_is_said_once() -> None:
    shared = Shared(store=MemoryStore(), clock=lambda: 100.0)
    fake = FakeLinks()
    sync = networks.NetworkSync(fake, reason="not root")  # type: ignore[arg-type]
    dep = _deployed()
    for _ in range(3):  # every pass
        sync.step(shared, [dep], egress=lambda: (9000,))
    assert fake.made == [] and fake.removed == []
    assert sync.launch_network(dep, "local/a") is None  # the replica starts on 127.0.0.1
    events = [e for e in shared.store.list_events() if e.kind == "NetworkFallback"]
    assert len(events) == 1
    assert "local/a, local/b" in events[0].message and "not root" in events[0].message
    lines = network_view.lines({"network": sync.describe(dep)})
    assert lines == [
        "local/a, local/b: network isolation needs root and `ip` (not root); these regions"
        " share 127.0.0.1 instead (no link profile)"
    ]
    assert network_view.fallbacks({"network": sync.describe(dep)}) == lines


def test_status_shows_each_isolated_region() -> None:
    row = {
        "placement": "local/b",
        "isolated": True,
        "netns": "cc-x-shop-b",
        "address": "10.213.0.6",
        "relay": "10.213.0.5",
        "link": "+80 ms +- 5 ms round trip",
    }
    assert network_view.lines({"network": [row]}) == [
        "local/b: netns cc-x-shop-b, replicas on 10.213.0.6 via 10.213.0.5:"
        " +80 ms +- 5 ms round trip"
    ]
    assert network_view.fallbacks({"network": [row]}) == []
