"""Cross-field rules of the manifest. Each check returns every violation it finds as
(path relative to the checked model, message); `raise_if` hands them to pydantic in one
`RuleViolations` so the loader can place each one at its own line."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from crosscloud.domain import providers, quantity, regions
from crosscloud.domain.manifest import spot
from crosscloud.domain.yamlpos import Path, format_path

if TYPE_CHECKING:
    from crosscloud.domain.manifest.frontdoor import FrontDoorTls
    from crosscloud.domain.manifest.model import (
        Manifest,
        Placement,
        Scaling,
        ServiceSpec,
        Spec,
    )
    from crosscloud.domain.manifest.traffic import OptimizerSpec, TrafficSpec

Violation = tuple[Path, str]


class RuleViolations(ValueError):
    """Several rule violations at once, each with its own path."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{format_path(p)}: {m}" for p, m in violations))


def raise_if(violations: list[Violation]) -> None:
    """Raise RuleViolations when there is any violation."""
    if violations:
        raise RuleViolations(violations)


def check_scaling(scaling: Scaling) -> list[Violation]:
    """minReplicas <= maxReplicas; minFailureDomains <= maxReplicas."""
    found: list[Violation] = []
    if scaling.min_replicas > scaling.max_replicas:
        found.append(
            (
                ("minReplicas",),
                f"minReplicas {scaling.min_replicas} is more than maxReplicas"
                f" {scaling.max_replicas}",
            )
        )
    domains = scaling.min_failure_domains
    if domains is not None and domains > scaling.max_replicas:
        found.append(
            (
                ("minFailureDomains",),
                f"minFailureDomains {domains} needs a replica in each of {domains} placements,"
                f" more than maxReplicas {scaling.max_replicas}",
            )
        )
    return found


def check_service(service: ServiceSpec) -> list[Violation]:
    """Exactly one of source, image and command; the options of each kind only with it; no
    variable both plain and secret."""
    found: list[Violation] = []
    given = [k for k in ("source", "image", "command") if getattr(service, k) is not None]
    if len(given) != 1:
        which = " and ".join(given) if given else "none of source, image and command"
        found.append(
            (
                ("name",),
                f"service {service.name!r} has {which}; give one (source: ./service.py:Class;"
                " image: registry/repo:tag for clusters; command: [...] for local placements)",
            )
        )
    found += _repeats(list(service.models), ("models",), "model")
    if service.image is None:
        found += [
            ((key,), f"{key} is for image: services; {why}")
            for key, set_, why in (
                ("port", service.port is not None, _PORT_WHY),
                ("args", bool(service.args), "put the arguments in command: or the class"),
            )
            if set_
        ]
    if service.command is not None and not service.command[0].strip():
        found.append((("command", 0), "the program to run is empty"))
    for name in sorted(service.env.keys() & service.secret_env.keys()):
        found.append((("secretEnv", name), f"{name} is set in env too; keep one of them"))
    return found


_PORT_WHY = "a command gets its port as {port} and $PORT, a source service from crosscloud"


def check_placement(placement: Placement) -> list[Violation]:
    """Provider and type agree, clusters have a context, the region exists."""
    found: list[Violation] = []
    provider = providers.get(placement.provider)
    runs_on = providers.of_cluster_type(placement.type) or provider
    if runs_on is not provider:
        found.append(
            (
                ("type",),
                f"type {placement.type} runs on {runs_on.name}, but provider is"
                f" {provider.name}; use type {provider.cluster_type} for {provider.name}",
            )
        )
    if runs_on.kubernetes is not None and not placement.context:
        found.append(
            (
                ("context",),
                f"type {placement.type} needs context: the kubeconfig context of"
                " the cluster (see `kubectl config get-contexts`)",
            )
        )
    if placement.region is not None and not regions.is_valid(placement.provider, placement.region):
        found.append((("region",), regions.describe(placement.provider, placement.region)))
    if provider.kubernetes is None:
        found += _check_machine(placement)
    elif placement.network != type(placement.network)():  # only local regions have one
        why = f"network is for local regions (on this machine); remove it from {provider.name}"
        found.append((("network",), why))
    found += _repeats([s.name for s in placement.services], ("services",), "service")
    return found


def _check_machine(placement: Placement) -> list[Violation]:
    """A placement on this machine (local) has no mesh and no instance type."""
    found: list[Violation] = []
    if placement.mesh != "none":
        found.append((("mesh",), "local placements have no service mesh; use mesh: none"))
    if placement.instance_type is not None:
        clouds = providers.listed((p.name for p in providers.CLUSTERS), "and")
        found.append(
            (
                ("instanceType",),
                f"local placements run on this machine; remove instanceType (it is for {clouds})",
            )
        )
    return found


def check_traffic(traffic: TrafficSpec) -> list[Violation]:
    """Failover entries are unique; split weights have a positive sum."""
    found = _repeats(list(traffic.failover), ("failover",), "failover entry")
    if traffic.split and sum(traffic.split.values()) <= 0:
        found.append((("split",), "the weights add up to 0; at least one must be positive"))
    for zone, members in traffic.residency.items():
        if not members:
            found.append((("residency", zone), f"zone {zone!r} lists no placement"))
        found += _repeats(list(members), ("residency", zone), "placement")
    return found


def check_tls(tls: FrontDoorTls) -> list[Violation]:
    """certFile and keyFile together; client certificates need a CA to check them by."""
    found: list[Violation] = []
    if (tls.cert_file is None) != (tls.key_file is None):
        given, missing = ("certFile", "keyFile")
        if tls.cert_file is None:
            given, missing = missing, given
        found.append(
            (
                (given,),
                f"{given} needs {missing} too (or leave both out for a certificate from"
                " the deployment's CA)",
            )
        )
    if tls.client_certs != "none" and tls.client_ca_file is None:
        found.append(
            (
                ("clientCerts",),
                f"clientCerts {tls.client_certs!r} needs clientCaFile: the CA that client"
                " certificates must chain to",
            )
        )
    if tls.handshake_timeout <= 0:
        found.append((("handshakeTimeout",), "must be more than 0 (e.g. 10s)"))
    return found


def check_optimizer(optimizer: OptimizerSpec) -> list[Violation]:
    """spread.minClouds can be met by the allowed providers."""
    allowed = set(optimizer.providers)
    if allowed and optimizer.spread.min_clouds > len(allowed):
        return [
            (
                ("spread", "minClouds"),
                f"minClouds {optimizer.spread.min_clouds} is more than"
                f" the {len(allowed)} allowed providers ({', '.join(sorted(allowed))})",
            )
        ]
    return []


def check_manifest(manifest: Manifest) -> list[Violation]:
    """Service names unique and every reference to a service or placement resolves."""
    spec = manifest.spec
    names = [s.name for s in spec.services]
    found: list[Violation] = [
        (("spec", "services", i, "name"), f"service {name!r} is declared more than once")
        for i, name in enumerate(names)
        if name in names[:i]
    ]
    found += _shared_models(spec)
    placements = manifest.placements()
    ids = [p.id for p in placements]
    found += [
        (
            ("spec", "placements", i),
            f"placement {pid!r} is declared more than once (placements are named provider/region)",
        )
        for i, pid in enumerate(ids)
        if pid in ids[:i]
    ]
    for i, placement in enumerate(placements):
        for j, item in enumerate(placement.services):
            if item.name not in names:
                found.append(
                    (
                        ("spec", "placements", i, "services", j, "name"),
                        _unknown("service", item.name, names),
                    )
                )
    found += _check_weights(spec)
    found += _check_commands(manifest)
    if spec.placements != "auto":
        found += _check_placement_refs(spec, ids)
        found += spot.check(spec.services, spec.placements)
        found += _check_residency(spec)
    elif spec.traffic.residency:
        found.append(
            (
                ("spec", "traffic", "residency"),
                "residency zones name declared placements; `placements: auto` has none",
            )
        )
    return found


def _shared_models(spec: Spec) -> list[Violation]:
    """A model name routes to one service: two services may not both declare it."""
    owner: dict[str, str] = {}
    found: list[Violation] = []
    for i, service in enumerate(spec.services):
        for j, model in enumerate(service.models):
            first = owner.setdefault(model, service.name)
            if first != service.name:
                found.append(
                    (
                        ("spec", "services", i, "models", j),
                        f"model {model!r} is served by service {first!r} already; the gateway"
                        " routes a model to one service",
                    )
                )
    return found


def _check_commands(manifest: Manifest) -> list[Violation]:
    """A `command:` runs on this machine: only local placements can run it."""
    commands = {s.name for s in manifest.spec.services if s.command is not None}
    if manifest.spec.placements == "auto" and commands:
        return [
            (
                ("spec", "placements"),
                f"service(s) {', '.join(sorted(commands))} run a command, which only local"
                " placements can run; declare them (provider: local)",
            )
        ]
    found: list[Violation] = []
    for i, placement in enumerate(manifest.placements()):
        if providers.get(placement.provider).kubernetes is None:
            continue
        placed: list[tuple[int | None, str]] = [
            (j, e.name) for j, e in enumerate(placement.services)
        ] or [(None, s.name) for s in manifest.spec.services]
        for j, name in placed:
            if name in commands:
                path: Path = ("spec", "placements", i) + (() if j is None else ("services", j))
                found.append((path, _command_on_cluster(name, placement.type)))
    return found


def _command_on_cluster(name: str, kind: str) -> str:
    return (
        f"service {name!r} runs a command, which only local placements can run; {kind}"
        " runs container images: give the service image: (and port:, healthPath:), e.g."
        " vllm/vllm-openai, lmsysorg/sglang or ghcr.io/huggingface/text-generation-inference"
    )


def _check_residency(spec: Spec) -> list[Violation]:
    """Every zone names declared placements, and runs every service: a request in the
    zone for a service with no placement there could never be served."""
    assert spec.placements != "auto"
    by_id = {p.id: p for p in spec.placements}
    ids = list(by_id)
    everything = [s.name for s in spec.services]
    found: list[Violation] = []
    for zone, members in spec.traffic.residency.items():
        known = [m for m in members if m in by_id]
        found += [
            (("spec", "traffic", "residency", zone, i), _unknown("placement", m, ids))
            for i, m in enumerate(members)
            if m not in by_id
        ]
        served = {n for m in known for n in ([i.name for i in by_id[m].services] or everything)}
        missing = [name for name in everything if name not in served]
        if known and missing:
            found.append(
                (
                    ("spec", "traffic", "residency", zone),
                    f"zone {zone!r} ({', '.join(members)}) has no placement for service(s)"
                    f" {', '.join(missing)}: a request in the zone could never be served;"
                    " add them to a placement of the zone",
                )
            )
    return found


def _check_weights(spec: Spec) -> list[Violation]:
    if spec.placements == "auto":
        return []
    weights: dict[str, list[tuple[Path, float]]] = {}
    for i, placement in enumerate(spec.placements):
        for j, item in enumerate(placement.services):
            if item.weight is not None:
                path = ("spec", "placements", i, "services", j, "weight")
                weights.setdefault(item.name, []).append((path, item.weight))
    return [
        (
            found[0][0],
            f"the weights of service {name!r} add up to 0; at least one must be"
            " positive (or leave weight out everywhere)",
        )
        for name, found in weights.items()
        if sum(w for _, w in found) <= 0
    ]


def _check_placement_refs(spec: Spec, ids: list[str]) -> list[Violation]:
    assert spec.placements != "auto"
    found: list[Violation] = [
        (("spec", "traffic", "failover", i), _unknown("placement", entry, ids))
        for i, entry in enumerate(spec.traffic.failover)
        if entry not in ids
    ]
    found += [
        (("spec", "traffic", "split", key), _unknown("placement", key, ids))
        for key in spec.traffic.split
        if "/" in key and key not in ids
    ]
    if all(p.services for p in spec.placements):
        placed = {item.name for p in spec.placements for item in p.services}
        found += [
            (
                ("spec", "services", i, "name"),
                f"service {s.name!r} is in no placement; add"
                " it to a placement's services (or leave services out to place every one)",
            )
            for i, s in enumerate(spec.services)
            if s.name not in placed
        ]
    return found


def _repeats(items: list[str], path: Path, what: str) -> list[Violation]:
    counts = Counter(items)
    seen: set[str] = set()
    found: list[Violation] = []
    for i, item in enumerate(items):
        if counts[item] > 1 and item in seen:
            found.append(((*path, i), f"{what} {item!r} is listed more than once"))
        seen.add(item)
    return found


def _unknown(what: str, name: str, known: list[str]) -> str:
    near = quantity.did_you_mean(name, known)
    hint = f"; did you mean {near!r}?" if near else ""
    listed = ", ".join(known) if known else "none"
    return f"no {what} is named {name!r}{hint} (declared: {listed})"
