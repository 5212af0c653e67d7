"""Pure: where replicas go when their placement has no capacity for them.

A Kubernetes placement whose pods stay Unschedulable (no GPU node, a quota) past a limit
reports a capacity shortfall. The answer is to move those replicas to the next placement
of the same service: the next one after it in `traffic.failover` order (wrapping round to
the earlier ones), else the next in manifest order. Placements that cannot take them (the
cluster is unreachable, or it is short of capacity itself) are skipped. The counts are
returned as data; the control plane stores them as overrides and says so in an event.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from crosscloud.planning import routing


@dataclass(frozen=True)
class Move:
    """Move `replicas` replicas of `service` from `source` to `target`; `counts` are the
    two placements' new replica counts."""

    service: str
    source: str
    target: str
    replicas: int
    counts: Mapping[str, int]


def order(source: str, placements: Sequence[str], failover: Sequence[str]) -> list[str]:
    """The service's other placements in the order they take spilled replicas."""
    ranked = list(placements)
    if failover:
        # sorted() is stable: placements of one failover level keep manifest order.
        ranked = sorted(ranked, key=lambda p: routing.failover_rank(p, failover))
    if source not in ranked:
        return ranked
    at = ranked.index(source)
    return ranked[at + 1 :] + ranked[:at]


def spill(
    service: str,
    *,
    source: str,
    unschedulable: int,
    counts: Mapping[str, int],
    failover: Sequence[str] = (),
    blocked: Collection[str] = (),
) -> Move | None:
    """The move for `unschedulable` replicas of `service` stuck at `source`, or None when
    there is nothing to move or nowhere to put it.

    `counts` are the service's current replica counts by placement, in manifest order."""
    moving = min(unschedulable, counts.get(source, 0))
    if moving <= 0:
        return None
    for target in order(source, list(counts), failover):
        if target in blocked:
            continue
        new = {source: counts[source] - moving, target: counts[target] + moving}
        return Move(service, source, target, moving, new)
    return None
