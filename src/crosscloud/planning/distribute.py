"""Pure: spread a service's replica total (the autoscaler's) over its placements.

Changes are incremental from the current counts, so a pass moves as few replicas as it
can. Two rules:

- `fill` (the manifest declares `traffic.failover`): the gateway sends all traffic to the
  first healthy level, so new replicas go to the first placement in failover order that
  has room, and replicas leave from the last placement first;
- `even` (no failover order): a new replica goes to the placement with the fewest, one
  leaves from the placement with the most (ties: manifest order in, reverse order out).

A pinned placement (`crosscloud scale` set it by hand) keeps its count; the autoscaler
moves only the others.

Spread (`min_spread`, the manifest's `scaling.minFailureDomains`): while the total allows
it, replicas stay in at least that many placements: a new replica goes to an empty one
first, a leaving one comes from a placement that keeps one, and a total that sits in too
few placements has one moved out (so a region failover still has somewhere to go).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Mode = Literal["fill", "even"]


@dataclass(frozen=True)
class Slot:
    """One placement of the service: its current count, whether it is pinned, and the
    most replicas it can take (None: no limit known)."""

    placement: str
    current: int
    pinned: bool = False
    capacity: int | None = None


def distribute(
    total: int, slots: Sequence[Slot], *, mode: Mode, min_spread: int = 1
) -> dict[str, int]:
    """Per-placement counts summing to `total` where the unpinned slots allow it.

    `slots` are in preference order (failover order for `fill`). When pinned counts alone
    exceed `total`, or capacities cannot hold it, the result sums to what is possible."""
    counts = {s.placement: s.current for s in slots}
    free = [s for s in slots if not s.pinned]
    want = total - sum(s.current for s in slots if s.pinned)
    have = sum(counts[s.placement] for s in free)

    def short() -> bool:  # fewer placements hold a replica than the spread asks
        return sum(1 for n in counts.values() if n > 0) < min_spread

    while have < want:
        room = [s for s in free if s.capacity is None or counts[s.placement] < s.capacity]
        if short():
            room = [s for s in room if counts[s.placement] == 0] or room
        if not room:
            break
        pick = room[0] if mode == "fill" else min(room, key=lambda s: counts[s.placement])
        counts[pick.placement] += 1
        have += 1
    while have > max(want, 0):
        taken = [s for s in reversed(free) if counts[s.placement] > 0]
        if not short() and sum(1 for n in counts.values() if n > 0) == min_spread:
            taken = [s for s in taken if counts[s.placement] > 1] or taken
        pick = taken[0] if mode == "fill" else max(taken, key=lambda s: counts[s.placement])
        counts[pick.placement] -= 1
        have -= 1
    _respread(counts, free, min_spread)
    return counts


def _respread(counts: dict[str, int], free: Sequence[Slot], min_spread: int) -> None:
    """Move replicas out of crowded placements into empty ones until `min_spread`
    placements hold one, or nothing can move (the last placement gives first)."""
    while sum(1 for n in counts.values() if n > 0) < min_spread:
        donors = [s for s in reversed(free) if counts[s.placement] > 1]
        empty = [
            s for s in free if counts[s.placement] == 0 and (s.capacity is None or s.capacity > 0)
        ]
        if not donors or not empty:
            return
        donor = max(donors, key=lambda s: counts[s.placement])
        counts[donor.placement] -= 1
        counts[empty[0].placement] += 1
