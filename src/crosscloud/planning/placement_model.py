"""Inputs and outputs of the placement optimizer, as frozen values (see `placement.plan`).

Semantics, decided once here:

- A *replica* needs one instance with at least its CPU and memory (after the per-instance
  reservation in `Constraints`) and, when it asks for `A100:2`, at least 2 accelerators of
  that kind. One instance may host several replicas of the same service (`floor` of each
  resource ratio); instances are never shared between services. A service without an
  accelerator only runs on instance types without one (GPU nodes are tainted).
  A request for `A100` is also met by `A100-80GB`, and `H100` / `H100-80GB` by each other.
- A *placement* is one (provider, region): one cluster. `Site`s are the placements the
  manifest declares for a service; with no site the optimizer may use any allowed location.
- *Spread*: the replicas of each service run on at least `min_clouds` distinct providers.
- *Price*: with `spot=True` an instance is billed at its spot price when the catalog has one
  (and it is lower), otherwise on demand. `max_hourly_price` caps the whole plan's total.
"""

from __future__ import annotations

from dataclasses import dataclass

from crosscloud import errors
from crosscloud.domain import quantity


@dataclass(frozen=True)
class Site:
    """A declared placement of a service: provider and region, or None to let the optimizer
    choose; `replicas` fixes how many run there (None: the optimizer decides, at least 1)."""

    provider: str | None = None
    region: str | None = None
    replicas: int | None = None

    def __str__(self) -> str:
        return f"{self.provider or '*'}/{self.region or '*'}"


@dataclass(frozen=True)
class ServiceDemand:
    """What one service needs: per-replica resources, how many replicas, and where.

    Replica count: with no sites, exactly `replicas`. With sites, fixed sites get exactly their
    count, every other site at least one, and the total is `max(replicas, fixed + free sites)`;
    when every site is fixed the fixed counts are the total.
    `min_clouds`, when set, overrides `Constraints.min_clouds` for this service.
    """

    name: str
    cpu: float
    memory_bytes: int
    accelerator: quantity.Accelerator | None = None
    replicas: int = 1
    sites: tuple[Site, ...] = ()
    min_clouds: int | None = None


@dataclass(frozen=True)
class Constraints:
    """Rules for every service: allowed providers and regions (None: all), spot allowed,
    a cap on the plan's total $/h, the spread rule, replicas per placement, and resources
    each instance keeps for itself (kubelet, system pods)."""

    providers: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    spot: bool = False
    max_hourly_price: float | None = None
    min_clouds: int = 1
    max_replicas_per_placement: int | None = None
    reserved_cpu: float = 0.0
    reserved_memory_bytes: int = 0


@dataclass(frozen=True)
class Assignment:
    """Some replicas of a service on `instances` instances of one type in one placement.
    Prices are per instance-hour in USD; `hourly` is what these instances cost together."""

    service: str
    provider: str
    region: str
    instance_type: str
    accelerator: quantity.Accelerator | None
    instances: int
    replicas: int
    on_demand_hour: float
    spot_hour: float | None
    spot: bool
    hourly: float

    @property
    def placement(self) -> str:
        return f"{self.provider}/{self.region}"


@dataclass(frozen=True)
class ServicePlan:
    """The cheapest assignments of one service, or the reasons none exists."""

    service: str
    assignments: tuple[Assignment, ...]
    hourly: float
    problems: tuple[str, ...] = ()

    @property
    def feasible(self) -> bool:
        return not self.problems

    @property
    def replicas(self) -> int:
        return sum(a.replicas for a in self.assignments)


@dataclass(frozen=True)
class Plan:
    """Every service's plan, the total $/h, and plan-wide problems (e.g. over the cap)."""

    services: tuple[ServicePlan, ...]
    hourly: float
    problems: tuple[str, ...] = ()

    @property
    def feasible(self) -> bool:
        return not self.problems and all(s.feasible for s in self.services)

    @property
    def assignments(self) -> tuple[Assignment, ...]:
        return tuple(a for s in self.services for a in s.assignments)

    def all_problems(self) -> list[str]:
        """Every reason this plan is infeasible, service problems prefixed by the service."""
        found = [f"{s.service}: {p}" for s in self.services for p in s.problems]
        return found + list(self.problems)

    def require(self) -> Plan:
        """This plan if feasible; otherwise a UserError that lists every reason."""
        if not self.feasible:
            lines = "\n  ".join(self.all_problems())
            raise errors.UserError(f"no placement satisfies the constraints:\n  {lines}")
        return self
