"""A manifest and its plan -> the renderer's input: one `Cluster` per (provider, region)
that runs on Kubernetes, with each service's planned replicas and instance type. Pure.

Images: a service's `image`, else `<service>:<image_tag>` (the renderer puts a bare name
under the placement's `registry`). Replicas come from the plan; the autoscaler's bounds
from `scaling`, widened to include the planned count so the plan is never undone at once.
Local placements run on this machine and render nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from crosscloud.adapters.kubernetes import model
from crosscloud.domain import manifest, providers, targets
from crosscloud.planning import from_manifest, placement

#: The tag of images that `crosscloud build` has not produced yet (see `crosscloud build`).
PLACEHOLDER_TAG = "unbuilt"
CLUSTER = targets.Target.CLUSTER


@dataclass(frozen=True)
class Cluster:
    """One Kubernetes placement to render, and notes for the person reading the plan."""

    placement: model.RenderPlacement
    services: tuple[model.RenderService, ...]
    notes: tuple[str, ...] = ()


_Where = tuple[str, str]


def clusters(
    doc: manifest.Manifest,
    result: placement.Plan,
    *,
    resources: Mapping[str, from_manifest.ServiceResources],
    image_tag: str = PLACEHOLDER_TAG,
) -> list[Cluster]:
    """Every non-local placement of the plan, sorted by provider and region."""
    planned: dict[_Where, dict[str, list[placement.Assignment]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for item in result.assignments:
        if targets.target_of(item.placement) is CLUSTER:
            planned[(item.provider, item.region)][item.service].append(item)
    for where in doc.placements():
        if targets.target_of(where.id) is CLUSTER and where.region is not None:
            # Declared with replicas 0: still rendered, scaled to nothing.
            for entry in where.services:
                planned[(where.provider, where.region)].setdefault(entry.name, [])
    out = []
    for (provider, region), by_service in sorted(planned.items()):
        target = _render_placement(doc, provider, region)
        services = tuple(
            _render_service(
                doc.service(name),
                resources[name],
                found,
                image_tag=image_tag,
                mtls=doc.spec.secured(name),
            )
            for name, found in sorted(by_service.items())
        )
        out.append(Cluster(target, services, _notes(target, services, by_service)))
    return out


def _render_placement(doc: manifest.Manifest, provider: str, region: str) -> model.RenderPlacement:
    declared = _declared(doc, provider, region)
    if declared is None:  # placements: auto
        return model.RenderPlacement(
            provider=provider,
            region=region,
            type=providers.get(provider).cluster_type,
            context="",
            namespace=doc.metadata.name,
        )
    return model.RenderPlacement(
        provider=declared.provider,
        region=region,
        type=declared.type,
        context=declared.context or "",
        namespace=declared.namespace or doc.metadata.name,
        mesh=declared.mesh,
        instance_type=declared.instance_type,
        registry=declared.registry,
    )


def _declared(doc: manifest.Manifest, provider: str, region: str) -> manifest.Placement | None:
    for exact in (True, False):
        for where in doc.placements():
            if where.provider == provider and where.region == (region if exact else None):
                return where
    return None


def _render_service(
    spec: manifest.ServiceSpec,
    needs: from_manifest.ServiceResources,
    found: list[placement.Assignment],
    *,
    image_tag: str,
    mtls: bool = False,
) -> model.RenderService:
    wanted = needs.accelerators[0] if needs.accelerators else None
    kinds = {a.accelerator.name for a in found if a.accelerator is not None}
    types = {a.instance_type for a in found}
    replicas = sum(a.replicas for a in found)
    return model.RenderService(
        name=spec.name,
        image=spec.image or f"{spec.name}:{image_tag}",
        args=spec.args,
        port=spec.port or model.RenderService.port,
        health_path=spec.health_path,
        cpu=needs.cpu,
        memory_bytes=needs.memory_bytes,
        env=dict(spec.env),
        secret_env={
            name: model.SecretRef(ref.secret, ref.key) for name, ref in spec.secret_env.items()
        },
        # The planned instance's GPU (an A100 request may land on an A100-80GB).
        accelerator=(kinds.pop() if len(kinds) == 1 else wanted.name) if wanted else None,
        accelerator_count=wanted.count if wanted else 0,
        instance_type=types.pop() if len(types) == 1 else None,
        replicas=replicas,
        min_replicas=min(spec.scaling.min_replicas, replicas),
        max_replicas=max(spec.scaling.max_replicas, replicas, 1),
        target_concurrency=spec.scaling.target_concurrency,
        spot=any(a.spot for a in found),
        mtls=mtls,
    )


def _notes(
    target: model.RenderPlacement,
    services: tuple[model.RenderService, ...],
    by_service: Mapping[str, list[placement.Assignment]],
) -> tuple[str, ...]:
    notes = []
    for service in services:
        types = sorted({a.instance_type for a in by_service[service.name]})
        if len(types) > 1:
            notes.append(
                f"{target.key}: {service.name} is planned on {', '.join(types)}; the Deployment"
                " selects no instance type, so the cluster's autoscaler picks the nodes"
            )
    return tuple(notes)


def traffic(spec: manifest.TrafficSpec) -> model.RenderTraffic:
    """`spec.traffic` as the renderer reads it (seconds, counts, Envoy's retry-on list)."""
    return model.RenderTraffic(
        policy=spec.policy,
        timeout_s=spec.timeout,
        retry_attempts=spec.retries.attempts,
        per_try_timeout_s=spec.retries.per_try_timeout,
        retry_on=",".join(spec.retries.retry_on),
        consecutive_5xx=spec.outlier_detection.consecutive_5xx_errors,
        interval_s=spec.outlier_detection.interval,
        base_ejection_s=spec.outlier_detection.base_ejection_time,
        max_ejection_percent=spec.outlier_detection.max_ejection_percent,
    )
