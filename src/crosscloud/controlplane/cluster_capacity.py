"""Capacity shortfalls answered: replicas whose pods stay Unschedulable in a cluster
placement move to the service's next placement (`planning.spill`: failover order, else
manifest order; unreachable and short placements skipped). A move is stored as `scale`
pins on both placements (the autoscaler leaves pinned placements alone) until the next
`up` that changes the manifest, and an event says what moved where and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Protocol

from crosscloud.controlplane import records
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import manifest, targets
from crosscloud.planning import desired as desired_mod
from crosscloud.planning import spill

MOVE_COOLDOWN = 30.0  # pods being deleted after a move are still Pending for a moment
AVOID_AFTER_MOVE = 600.0  # a placement replicas left for lack of capacity gets none back
Key = tuple[str, str]  # (deployment, placement)


class Observed(Protocol):
    """What the last pass saw of a cluster placement (clusters.Seen)."""

    error: str
    shortfalls: tuple[targets.CapacityShortfall, ...]


class Capacity:
    """Remembers recent moves (so one shortfall moves once) between passes."""

    def __init__(self) -> None:
        self.moved: dict[tuple[str, str, str], float] = {}  # (deployment, service, from)

    def answer(
        self,
        shared: Shared,
        known: Mapping[Key, Observed],
        *,
        wanted: Collection[Key],
        now: float,
    ) -> None:
        """Move the replicas of every shortfall that `known` placements reported."""
        for (deployment, placement), seen in sorted(known.items()):
            if (deployment, placement) not in wanted or seen.error:
                continue
            for short in seen.shortfalls:
                moved = self.moved.get((deployment, short.service, placement), float("-inf"))
                if now - moved >= MOVE_COOLDOWN:
                    self._move(shared, known, deployment, short, now)

    def _blocked(
        self, known: Mapping[Key, Observed], deployment: str, service: str, now: float
    ) -> set[str]:
        """Placements that cannot take `service`'s replicas now."""
        out = {p for (d, p), seen in known.items() if d == deployment and seen.error}
        for (d, p), seen in known.items():
            if d == deployment and any(s.service == service for s in seen.shortfalls):
                out.add(p)
        for (d, s, p), when in self.moved.items():
            if d == deployment and s == service and now - when < AVOID_AFTER_MOVE:
                out.add(p)
        return out

    def _move(
        self,
        shared: Shared,
        known: Mapping[Key, Observed],
        deployment: str,
        short: targets.CapacityShortfall,
        now: float,
    ) -> None:
        record = shared.store.get_deployment(deployment)  # fresh: an earlier move may have run
        if record is None:
            return
        submitted = records.submitted_of(record)
        spec = submitted.parse()
        counts = _counts(spec, submitted, version=record.version, service=short.service)
        move = spill.spill(
            short.service,
            source=short.placement,
            unschedulable=short.pods,
            counts=counts,
            failover=spec.spec.traffic.failover,
            blocked=self._blocked(known, deployment, short.service, now),
        )
        self.moved[(deployment, short.service, short.placement)] = now
        if move is None:
            shared.event(
                deployment,
                "NoCapacity",
                f"{short.message(now)}; no other placement of {short.service} can take them",
            )
            return
        pins = {desired_mod.scale_key(move.service, p): n for p, n in move.counts.items()}
        updated = dataclasses.replace(submitted, scale={**submitted.scale, **pins})
        shared.store.put_deployment(
            dataclasses.replace(record, manifest_json=updated.dumps(), updated_at=now)
        )
        shared.event(
            deployment,
            "CapacityMoved",
            f"moved {move.replicas} replica(s) of {move.service} from {move.source} to"
            f" {move.target}: {short.message(now)}",
            service=move.service,
            source=move.source,
            target=move.target,
            replicas=move.replicas,
        )
        shared.wake.set()


def _counts(
    spec: manifest.Manifest, submitted: records.Submitted, *, version: int, service: str
) -> dict[str, int]:
    """`service`'s replica counts by placement, in manifest order."""
    wanted = desired_mod.desired_services(spec, version=version, scale=submitted.overrides())
    by_id = {d.placement: d.replicas for d in wanted if d.service == service}
    return {p.id: by_id[p.id] for p in spec.placements() if p.id in by_id}
