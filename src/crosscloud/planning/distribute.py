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


def distribute(total: int, slots: Sequence[Slot], *, mode: Mode) -> dict[str, int]:
    """Per-placement counts summing to `total` where the unpinned slots allow it.

    `slots` are in preference order (failover order for `fill`). When pinned counts alone
    exceed `total`, or capacities cannot hold it, the result sums to what is possible."""
    counts = {s.placement: s.current for s in slots}
    free = [s for s in slots if not s.pinned]
    want = total - sum(s.current for s in slots if s.pinned)
    have = sum(counts[s.placement] for s in free)
    while have < want:
        room = [s for s in free if s.capacity is None or counts[s.placement] < s.capacity]
        if not room:
            break
        pick = room[0] if mode == "fill" else min(room, key=lambda s: counts[s.placement])
        counts[pick.placement] += 1
        have += 1
    while have > max(want, 0):
        taken = [s for s in reversed(free) if counts[s.placement] > 0]
        pick = taken[0] if mode == "fill" else max(taken, key=lambda s: counts[s.placement])
        counts[pick.placement] -= 1
        have -= 1
    return counts
