"""Pure: the desired replicas of spot services, split into spot and on-demand per placement
by `planning.spot`, from what the manifest wants in total and what runs now.

A service without `spot:` keeps its DesiredService rows as they are (on-demand). For a
spot service the total is the sum of its rows (manifest counts, `scale` and autoscaler
overrides), and the rows become one per (placement, capacity). Only the placements the
caller passes are planned (the control plane passes its local ones); rows of the others
are kept as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from crosscloud.domain import cost, manifest, state
from crosscloud.planning import routing, spot

S = state.ReplicaState


def split(
    desired: Sequence[state.DesiredService],
    spec: manifest.Manifest,
    *,
    replicas: Sequence[state.ReplicaRecord],
    preempted: Mapping[str, float],
    now: float,
    planned: Callable[[str], bool] = lambda _placement: True,
) -> list[state.DesiredService]:
    """`desired` with every spot service's rows (at placements where `planned`) replaced by
    its spot and on-demand rows."""
    out: list[state.DesiredService] = []
    for service in spec.spec.services:
        mine = [d for d in desired if d.service == service.name]
        ours = [d for d in mine if planned(d.placement)]
        if service.spot is None or not ours:
            out += mine
            continue
        out += [d for d in mine if not planned(d.placement)]
        out += _rows(ours, spec, service, replicas=replicas, preempted=preempted, now=now)
    return out


def _rows(
    rows: list[state.DesiredService],
    spec: manifest.Manifest,
    service: manifest.ServiceSpec,
    *,
    replicas: Sequence[state.ReplicaRecord],
    preempted: Mapping[str, float],
    now: float,
) -> list[state.DesiredService]:
    assert service.spot is not None
    first = rows[0]
    order = spec.spec.traffic.failover
    ids = [d.placement for d in rows]
    if order:  # the failover order is the preference among equal prices
        ids = sorted(ids, key=lambda p: routing.failover_rank(p, order))
    locations = [
        spot.Location(pid, manifest.domain_of(pid, service.spot.spread_over)) for pid in ids
    ]
    mine = [r for r in replicas if r.deployment == first.deployment and r.service == service.name]
    plan = spot.plan(
        sum(d.replicas for d in rows),
        settings=spot.Settings(
            base_on_demand=service.spot.base_on_demand,
            dynamic_fallback=service.spot.dynamic_fallback,
            overprovision=service.spot.overprovision,
        ),
        locations=locations,
        seen=seen(mine),
        preempted=preempted,
        now=now,
    )
    out = []
    for pid in ids:
        for capacity, counts in ((cost.SPOT, plan.spot), (cost.ON_DEMAND, plan.on_demand)):
            out.append(
                state.DesiredService(
                    deployment=first.deployment,
                    service=service.name,
                    placement=pid,
                    replicas=counts.get(pid, 0),
                    version=first.version,
                    capacity=capacity,
                )
            )
    return out


def seen(replicas: Sequence[state.ReplicaRecord]) -> dict[str, spot.Seen]:
    """Per placement: spot replicas alive and not noticed, the ready ones among them, and
    on-demand replicas alive (failed ones count: they are restarted where they are)."""
    alive = state.ACTIVE_STATES | state.FAILED_STATES
    out: dict[str, spot.Seen] = {}
    for r in replicas:
        if r.state not in alive or r.preempt_at is not None:
            continue
        s = out.get(r.placement, spot.Seen())
        if r.capacity == cost.SPOT:
            ready = int(r.state is S.READY)
            out[r.placement] = spot.Seen(s.spot + 1, s.spot_ready + ready, s.on_demand)
        else:
            out[r.placement] = spot.Seen(s.spot, s.spot_ready, s.on_demand + 1)
    return out
