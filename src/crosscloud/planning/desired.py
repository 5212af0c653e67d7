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

    Replicas come from a `scale` override, else the placement's `replicas`, else the
    service's `scaling.minReplicas`.
    """
    overrides = scale or {}
    name = spec.metadata.name
    out: list[state.DesiredService] = []
    for placement in spec.placements():
        for ps in placement.services:
            declared = ps.replicas
            if declared is None:
                declared = spec.service(ps.name).scaling.min_replicas
            replicas = overrides.get(scale_key(ps.name, placement.id), declared)
            out.append(
                state.DesiredService(
                    deployment=name,
                    service=ps.name,
                    placement=placement.id,
                    replicas=replicas,
                    version=version,
                )
            )
    return out


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
