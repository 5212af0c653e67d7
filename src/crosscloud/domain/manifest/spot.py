"""`spec.services[].spot`: run a service's replicas on spot capacity, with on-demand
beside them, spread over failure domains (the policy is `planning/spot.py`), and the rule
that a spot service can be spread at all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from crosscloud.domain.manifest.base import Model
from crosscloud.domain.yamlpos import Path

if TYPE_CHECKING:
    from crosscloud.domain.manifest.model import Placement, ServiceSpec

Domain = Literal["region", "cloud"]


class SpotSpec(Model):
    """`spot`: how many replicas stay on-demand, whether on-demand fills in while spot is
    short, how many extra spot replicas to keep, and the failure domain to spread over."""

    base_on_demand: int = Field(
        0, ge=0, description="Replicas that always run on-demand (never preempted)."
    )
    dynamic_fallback: bool = Field(
        True, description="Start on-demand replicas while ready spot replicas are short."
    )
    overprovision: int = Field(
        1, ge=0, description="Spot replicas kept beyond the target, to absorb preemptions."
    )
    spread_over: Domain = Field(
        "region", description="The failure domain spot replicas spread over: region or cloud."
    )


def domain_of(placement_id: str, spread_over: Domain) -> str:
    """The failure domain of a placement id (`provider/region`)."""
    return placement_id.partition("/")[0] if spread_over == "cloud" else placement_id


def check(
    services: Sequence[ServiceSpec], placements: Sequence[Placement]
) -> list[tuple[Path, str]]:
    """A spot service must run in placements of at least two failure domains: a
    preemption of one then never takes all of its spot capacity at once."""
    found: list[tuple[Path, str]] = []
    for i, service in enumerate(services):
        if service.spot is None or not placements:
            continue
        where = [
            p.id
            for p in placements
            if not p.services or any(s.name == service.name for s in p.services)
        ]
        domains = {domain_of(pid, service.spot.spread_over) for pid in where}
        if len(domains) < 2:
            found.append(
                (
                    ("spec", "services", i, "spot", "spreadOver"),
                    f"service {service.name!r} runs on spot in {len(domains)}"
                    f" {service.spot.spread_over}(s) ({', '.join(where) or 'none'}); spot needs"
                    f" placements in at least 2 {service.spot.spread_over}s so one preemption"
                    " never takes every replica",
                )
            )
    return found
