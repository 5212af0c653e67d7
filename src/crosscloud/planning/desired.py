"""Pure: what should run, from a manifest, its version and `scale` overrides; and which
ready replicas each service's traffic may go to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from crosscloud.domain import manifest, state


def scale_key(service: str, placement: str) -> str:
    """How a `crosscloud scale` override is keyed: `service@provider/region`."""
    return f"{service}@{placement}"


def desired_services(
    spec: manifest.Manifest, *, version: int, scale: Mapping[str, int] | None = None
) -> list[state.DesiredService]:
    """One DesiredService per (service, placement) the manifest declares.

    Replicas come from a `scale` override, else the placement's `replicas`, else a share of
    the service's `scaling.minReplicas`: what the explicit placements do not cover is
    spread over the placements that leave `replicas` out, at least 1 each (the same rule
    `crosscloud plan` uses, so plan and up agree).
    """
    overrides = scale or {}
    name = spec.metadata.name
    out: list[state.DesiredService] = []
    for service in spec.spec.services:
        sites = [
            (p.id, ps.replicas)
            for p in spec.placements()
            for ps in p.services
            if ps.name == service.name
        ]
        for placement_id, replicas in _share(service.scaling.min_replicas, sites):
            out.append(
                state.DesiredService(
                    deployment=name,
                    service=service.name,
                    placement=placement_id,
                    replicas=overrides.get(scale_key(service.name, placement_id), replicas),
                    version=version,
                )
            )
    return sorted(out, key=lambda d: (d.placement, d.service))


def _share(total: int, sites: list[tuple[str, int | None]]) -> list[tuple[str, int]]:
    """Explicit counts as given; `total` minus those spread over the rest, >= 1 each,
    earlier placements taking the remainder."""
    open_sites = [pid for pid, n in sites if n is None]
    left = max(0, total - sum(n for _pid, n in sites if n is not None))
    base, extra = divmod(left, len(open_sites)) if open_sites else (0, 0)
    shares = {pid: max(1, base + (1 if i < extra else 0)) for i, pid in enumerate(open_sites)}
    return [(pid, n if n is not None else shares[pid]) for pid, n in sites]


def serving_endpoints(
    replicas: Iterable[state.ReplicaRecord],
) -> list[state.EndpointRecord]:
    """An endpoint per ready replica: what the gateway may route to, in a stable order."""
    ready = [r for r in replicas if r.state is state.ReplicaState.READY and r.url]
    return [
        state.EndpointRecord(
            deployment=r.deployment,
            service=r.service,
            placement=r.placement,
            url=r.url or "",
            replica_id=r.id,
        )
        for r in sorted(ready, key=lambda r: (r.service, r.placement, r.id))
    ]
