"""The cost ledger's arithmetic: which billing intervals to open and close, and what they
cost over a window. Pure: `now` and the replicas seen are arguments.

An *interval* is one replica billed at one price from `start` until `end` (None: still
open). Each control-loop pass compares the open intervals (kept in the state store) with
the replicas recorded now:

- a recorded replica with no open interval gets one, from when it started;
- an open interval whose replica is gone is closed at `now`;
- an open interval whose replica is now priced differently (its capacity changed, or the
  manifest's price did) is closed at `now` and a new one opens at `now`.

Intervals are keyed by (replica, start), so running the same pass twice, or on a control
plane that restarted or took over with the same store, opens and closes nothing twice:
a replica that outlived its control plane keeps its one open interval, and time is never
counted by two intervals of one replica.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from crosscloud.domain.cost import Interval

__all__ = ["Changes", "Interval", "step", "totals"]


@dataclass(frozen=True)
class Changes:
    """What one pass writes: intervals to close (with `end` set) and new ones."""

    closed: tuple[Interval, ...] = ()
    opened: tuple[Interval, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.closed or self.opened)


def step(open_now: Iterable[Interval], billed: Iterable[Interval], *, now: float) -> Changes:
    """The intervals to close and open so that the ledger matches `billed` at `now`: one
    interval per replica recorded now, priced as it is now, `start` when it started."""
    current = {b.replica_id: b for b in billed}
    closed, opened, kept = [], [], set()
    for interval in open_now:
        seen = current.get(interval.replica_id)
        if seen is None or interval.replica_id in kept:  # gone (or a duplicate: never twice)
            closed.append(replace(interval, end=max(now, interval.start)))
        elif (seen.capacity, seen.price_hour) != (interval.capacity, interval.price_hour):
            closed.append(replace(interval, end=max(now, interval.start)))
            opened.append(_open(seen, start=max(now, interval.start)))
            kept.add(seen.replica_id)
        else:
            kept.add(seen.replica_id)
    for replica_id, seen in sorted(current.items()):
        if replica_id not in kept:
            opened.append(_open(seen, start=min(seen.start, now)))
    return Changes(tuple(closed), tuple(opened))


def _open(seen: Interval, *, start: float) -> Interval:
    return replace(seen, start=start, end=None)


GROUPS: Mapping[str, Callable[[Interval], str]] = {
    "service": lambda i: f"{i.deployment}/{i.service}",
    "placement": lambda i: i.placement,
    "cloud": lambda i: i.cloud,
    "deployment": lambda i: i.deployment,
}


def totals(
    intervals: Iterable[Interval], *, by: str, since: float, until: float
) -> dict[str, float]:
    """USD per group over [since, until]; `by` is a key of GROUPS."""
    key = GROUPS[by]
    out: dict[str, float] = {}
    for interval in intervals:
        spent = interval.cost(since=since, until=until)
        if spent > 0 or interval.end is None or interval.end > since:
            out[key(interval)] = out.get(key(interval), 0.0) + spent
    return out


def hourly(intervals: Iterable[Interval], *, by: str) -> dict[str, float]:
    """USD per hour of the open intervals now, per group (the burn rate)."""
    key = GROUPS[by]
    out: dict[str, float] = {}
    for interval in intervals:
        if interval.end is None:
            out[key(interval)] = out.get(key(interval), 0.0) + interval.price_hour
    return out


def split_by_share(amount: float, shares: Mapping[str, float]) -> dict[str, float]:
    """`amount` divided in proportion to `shares` (all of it to "" when there are none)."""
    total = sum(v for v in shares.values() if v > 0)
    if total <= 0:
        return {"": amount}
    return {k: amount * v / total for k, v in shares.items() if v > 0}


def per_unit(amount: float, units: float, *, scale: float) -> float | None:
    """USD per `scale` units (1,000 requests, 1,000,000 tokens); None when none were used."""
    return amount * scale / units if units > 0 else None
