"""The cost ledger's records as data: a replica's billing interval and a bucket of usage
(requests and tokens per service and API token), as a StateStore keeps them."""

from __future__ import annotations

from dataclasses import dataclass

ON_DEMAND = "on-demand"
SPOT = "spot"
HOUR = 3600.0
BUCKET = 300.0  # usage is kept in 5-minute buckets: `--since` is exact to 5 minutes
#: Usage buckets older than this are dropped (the billing intervals are all kept): a
#: store holds at most this many days of buckets per service and API token.
USAGE_KEEP = 90 * 86400.0


@dataclass(frozen=True)
class Interval:
    """One replica billed at `price_hour` USD from `start` to `end` (None: still open)."""

    replica_id: str
    deployment: str
    service: str
    placement: str
    capacity: str
    price_hour: float
    start: float
    end: float | None = None

    @property
    def cloud(self) -> str:
        return self.placement.partition("/")[0]

    def cost(self, *, since: float, until: float) -> float:
        """USD accrued within [since, until] (an open interval runs to `until`)."""
        end = until if self.end is None else min(self.end, until)
        seconds = end - max(self.start, since)
        return seconds * self.price_hour / HOUR if seconds > 0 else 0.0


@dataclass(frozen=True)
class Usage:
    """Requests and model tokens one API token ("" for none) sent to a service within the
    bucket starting at `bucket` (a multiple of BUCKET seconds)."""

    bucket: float
    deployment: str
    service: str
    token: str = ""
    requests: int = 0
    tokens: int = 0


def bucket_of(ts: float) -> float:
    return ts - ts % BUCKET
