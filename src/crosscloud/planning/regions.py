"""Pure: what the dashboard says of one region (a service in one placement) from the
gateway's counters and the replica counts: latency quantiles from histogram buckets, and
a health level with its reason.

No I/O and no clock: the control plane passes the counters' growth over a window it
measured itself, so these are tables in the tests."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class Health(enum.StrEnum):
    """Green, amber, red on the page."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True)
class Seen:
    """One region over the window: replica counts and what the gateway saw."""

    desired: int
    ready: int
    upstreams: int  # the gateway's upstreams of this region (0: none, or no gateway)
    available: int  # of those, taking traffic (healthy, not ejected)
    requests: float = 0.0
    errors: float = 0.0  # 5xx answered for this region
    ejections: float = 0.0
    connect_errors: float = 0.0


def quantile(bounds: Sequence[float], cumulative: Sequence[float], q: float) -> float | None:
    """Prometheus's `histogram_quantile`: `cumulative[i]` requests took at most
    `bounds[i]` seconds (one more count, last, for +Inf). Linear within the bucket the
    quantile falls in; the highest finite bound when it falls in +Inf; None with no
    request."""
    if len(cumulative) != len(bounds) + 1:
        raise ValueError("one cumulative count per bound, and one for +Inf")
    total = cumulative[-1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=False):
        if count >= rank and count > lower_count:
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return bounds[-1] if bounds else None


def health(seen: Seen) -> tuple[Health, str]:
    """Red when a region that should serve cannot (no ready replica, or the gateway takes
    none of its upstreams); amber when it serves short (fewer ready than desired, 5xx,
    ejections or refused connections in the window); else green. The reason says which."""
    if seen.desired == 0 and seen.ready == 0:
        return Health.OK, "scaled to zero"
    if seen.ready == 0:
        return Health.DOWN, f"0/{seen.desired} replicas ready"
    if seen.upstreams > 0 and seen.available == 0:
        return Health.DOWN, f"the gateway takes none of its {seen.upstreams} upstream(s)"
    short = []
    if seen.ready < seen.desired:
        short.append(f"{seen.ready}/{seen.desired} replicas ready")
    if seen.ejections:
        short.append(f"{seen.ejections:g} ejection(s)")
    if seen.connect_errors:
        short.append(f"{seen.connect_errors:g} refused connection(s)")
    if seen.errors:
        short.append(f"{seen.errors / max(seen.requests, 1):.1%} 5xx")
    if short:
        return Health.DEGRADED, ", ".join(short)
    return Health.OK, f"{seen.ready}/{seen.desired} replicas ready"
