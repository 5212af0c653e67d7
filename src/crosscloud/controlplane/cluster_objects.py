"""What each Kubernetes placement (EKS, AKS, GKE) of a deployment should hold: the desired
replica counts (manifest, `scale` pins, autoscaler) as a plan, rendered by `from_plan` and
`render`, with a digest so that unchanged objects are not sent again.

Two decisions live here:

- Cluster placements run container images: a service placed on one needs `image:`. A
  service given as `source:` is refused with the `crosscloud build ... --push` command to
  run first, because the control plane never imports, builds or pushes users' code (it
  holds no registry credentials, and a build belongs in the user's or CI's hands).
- The control plane's autoscaler owns replica counts everywhere (it sees the gateway's
  load across clouds), so the rendered Deployments carry the count and no
  HorizontalPodAutoscaler is applied (the two would fight over `spec.replicas`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from crosscloud import errors
from crosscloud.adapters.kubernetes import from_plan, model, render
from crosscloud.domain import manifest, state, targets
from crosscloud.planning import desired as desired_mod
from crosscloud.planning import from_manifest, placement

CLUSTER = targets.Target.CLUSTER
#: A service's certificate, key and trust bundle: (deployment, service) -> material.
TlsSource = Callable[[str, str], model.TlsMaterial | None]


@dataclass(frozen=True)
class Desired:
    """One cluster placement of one deployment: where, which counts, which objects."""

    deployment: str
    placement: str  # provider/region
    target: model.RenderPlacement
    counts: Mapping[str, int]  # replicas by service
    objects: tuple[dict[str, Any], ...]
    digest: str

    @property
    def services(self) -> list[str]:
        return sorted(self.counts)


def check(spec: manifest.Manifest, path: str) -> None:
    """Refuse, before anything is stored, cluster placements that `up` cannot run."""
    for i, where in enumerate(spec.placements()):
        if targets.target_of(where.id) is not CLUSTER:
            continue
        if where.region is None:
            raise errors.UserError(
                f"{path}: spec.placements[{i}] ({where.type}, context {where.context!r}) has no"
                " region; `up` deploys to declared regions (`crosscloud plan` can choose one)"
            )
        for entry in where.services:
            service = spec.service(entry.name)
            if service.image is None:
                raise errors.UserError(
                    f"{path}: service {service.name!r} runs from source {service.source!r}, but"
                    f" {where.id} ({where.type}) runs container images: build and push it with"
                    f" `crosscloud build {service.source} --tag {service.name} --push"
                    f" --registry {where.registry or 'REGISTRY'}` and set `image:` to the"
                    " reference it prints"
                )
    desired(spec, version=1, overrides={})  # a name or value Kubernetes refuses: now


def desired(
    spec: manifest.Manifest,
    *,
    version: int,
    overrides: Mapping[str, int],
    tls_material: TlsSource | None = None,
) -> list[Desired]:
    """Every cluster placement's objects at the counts `overrides` leave (sorted by id);
    with `tls_material`, each mutual TLS service's Secret holds its real certificate."""
    wanted = desired_mod.desired_services(spec, version=version, scale=overrides)
    resources = {s.name: from_manifest.effective_resources(s) for s in spec.spec.services}
    plan = _plan(spec, wanted, resources)
    traffic = from_plan.traffic(spec.spec.traffic)
    out = []
    for cluster in from_plan.clusters(spec, plan, resources=resources):
        services = tuple(_with_tls(_fixed(s), spec, tls_material) for s in cluster.services)
        objects = render.render_placement(
            deployment=spec.metadata.name,
            placement=cluster.placement,
            services=services,
            traffic=traffic,
        )
        out.append(
            Desired(
                deployment=spec.metadata.name,
                placement=f"{cluster.placement.provider}/{cluster.placement.region}",
                target=cluster.placement,
                counts={s.name: s.replicas for s in services},
                objects=tuple(objects),
                digest=digest(objects),
            )
        )
    return out


def _with_tls(
    service: model.RenderService, spec: manifest.Manifest, source: TlsSource | None
) -> model.RenderService:
    if not service.mtls or source is None:
        return service
    return dataclasses.replace(service, tls_material=source(spec.metadata.name, service.name))


def digest(objects: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(orjson.dumps(list(objects), option=orjson.OPT_SORT_KEYS)).hexdigest()


def _fixed(service: model.RenderService) -> model.RenderService:
    """The count as given, with no room for a HorizontalPodAutoscaler (see the docstring)."""
    return dataclasses.replace(
        service, min_replicas=service.replicas, max_replicas=max(service.replicas, 1)
    )


def _plan(
    spec: manifest.Manifest,
    wanted: Sequence[state.DesiredService],
    resources: Mapping[str, from_manifest.ServiceResources],
) -> placement.Plan:
    """The desired counts of cluster placements as the optimizer's answer, which is what
    `from_plan` renders (prices do not matter here: the placements are chosen)."""
    found: dict[str, list[placement.Assignment]] = defaultdict(list)
    for item in wanted:
        where = spec.placement(item.placement)
        if targets.target_of(item.placement) is not CLUSTER:
            continue
        if item.replicas <= 0 or where.region is None:
            continue
        needs = resources[item.service].accelerators
        found[item.service].append(
            placement.Assignment(
                service=item.service,
                provider=where.provider,
                region=where.region,
                instance_type=where.instance_type or "",
                accelerator=needs[0] if needs else None,
                instances=0,
                replicas=item.replicas,
                on_demand_hour=0.0,
                spot_hour=None,
                spot=bool(where.spot),  # a `spot: true` placement: its spot node pool
                hourly=0.0,
            )
        )
    plans = tuple(placement.ServicePlan(name, tuple(items), 0.0) for name, items in found.items())
    return placement.Plan(plans, 0.0)
