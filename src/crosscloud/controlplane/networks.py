"""Local regions with `network: {isolated: true}`: their namespaces, links and relays made
to match the deployments on every pass, and removed once nothing of theirs runs.

Where this machine cannot (not root, no `ip`), such regions share 127.0.0.1 as every local
region did before, and a `NetworkFallback` event and `status` say so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence, Set
from typing import Any

from crosscloud import errors
from crosscloud.adapters.local import links, netns
from crosscloud.controlplane import records
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import manifest, regionnet, targets

log = logging.getLogger("crosscloud.controlplane")


def isolated(spec: manifest.Manifest) -> list[manifest.Placement]:
    """The local placements of `spec` that ask for a network of their own."""
    return [
        p
        for p in spec.placements()
        if p.network.isolated and targets.target_of(p.id) is targets.Target.LOCAL
    ]


def fallback_line(placements: Sequence[str], reason: str) -> str:
    return (
        f"{', '.join(placements)}: network isolation needs root and `ip` ({reason});"
        " these regions share 127.0.0.1 instead (no link profile)"
    )


class NetworkSync:
    """The regions' networks of one control plane's state directory."""

    def __init__(self, links_: links.Links, *, reason: str | None = None) -> None:
        self.links = links_
        self.reason = reason if reason is not None else netns.unavailable()
        self._warned: set[str] = set()

    def launch_network(
        self, dep: records.Deployed, placement: str
    ) -> targets.ReplicaNetwork | None:
        """Where a new replica of `placement` listens; its region's network made first."""
        found = next((p for p in isolated(dep.spec) if p.id == placement), None)
        if found is None or self.reason is not None:
            return None
        net = self.links.ensure_net(dep.name, placement)
        return targets.ReplicaNetwork(netns=net.netns, bind=net.ns_addr, address=net.host_addr)

    def step(
        self,
        shared: Shared,
        deps: Sequence[records.Deployed],
        *,
        egress: Callable[[], tuple[int, ...]],
    ) -> None:
        """Every isolated region as wanted; every other region of ours removed once no
        replica record points into it."""
        wanted: set[str] = set()
        for dep in deps:
            regions = isolated(dep.spec)
            if regions and self.reason is not None:
                self._fallback(shared, dep, regions)
                continue
            for placement in regions:
                ports = tuple(
                    r.port
                    for r in shared.store.list_replicas(deployment=dep.name, placement=placement.id)
                    if r.port is not None
                )
                want = self._wanted(dep, placement, ports=ports, egress=egress())
                wanted.add(self.links.netns_name(dep.name, placement.id))
                try:
                    self.links.ensure(want)
                except errors.TargetError as exc:
                    log.error("network of %s/%s: %s", dep.name, placement.id, exc)
        self.prune(shared, keep=wanted)

    def desired(self, deps: Sequence[records.Deployed]) -> set[str]:
        """The namespaces the deployments' isolated regions have."""
        return {self.links.netns_name(d.name, p.id) for d in deps for p in isolated(d.spec)}

    def prune(self, shared: Shared, *, keep: Set[str]) -> list[str]:
        """Remove our regions that are not in `keep` and hold no recorded replica."""
        if self.reason is not None:
            return []
        in_use = {r.host for r in shared.store.list_replicas()}
        removed = []
        for name in self.links.owned():
            config = self.links.config(name) or {}
            if name in keep or config.get("listen") in in_use:
                continue
            try:
                self.links.remove(name)
            except errors.TargetError as exc:
                log.error("removing network %s: %s", name, exc)
                continue
            removed.append(name)
        return removed

    def _wanted(
        self,
        dep: records.Deployed,
        placement: manifest.Placement,
        *,
        ports: tuple[int, ...],
        egress: tuple[int, ...] = (),
    ) -> links.Wanted:
        profile = regionnet.LinkProfile(
            latency=placement.network.latency, jitter=placement.network.jitter
        )
        return links.Wanted(dep.name, placement.id, ports, egress, profile)

    def _fallback(
        self, shared: Shared, dep: records.Deployed, regions: Sequence[manifest.Placement]
    ) -> None:
        if dep.name in self._warned:
            return
        self._warned.add(dep.name)
        assert self.reason is not None
        line = fallback_line([p.id for p in regions], self.reason)
        shared.note(dep.name, "NetworkFallback", line)

    def describe(self, dep: records.Deployed) -> list[dict[str, Any]]:
        """For `status`: each isolated region's namespace, addresses and link."""
        out = []
        for placement in isolated(dep.spec):
            name = self.links.netns_name(dep.name, placement.id)
            if self.reason is not None:
                out.append({"placement": placement.id, "isolated": False, "reason": self.reason})
                continue
            config = self.links.config(name) or {}
            manifest_profile = regionnet.LinkProfile(
                latency=placement.network.latency, jitter=placement.network.jitter
            )
            profile = self.links.profile(name, manifest_profile)
            out.append(
                {
                    "placement": placement.id,
                    "isolated": True,
                    "netns": name,
                    "address": config.get("upstream"),
                    "relay": config.get("listen"),
                    "latency": profile.latency,
                    "jitter": profile.jitter,
                    "partitioned": profile.partitioned,
                    "link": profile.describe(),
                }
            )
        return out
