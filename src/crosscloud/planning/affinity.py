"""Pure: the prefix-affinity decision (`policy: prefix-affinity`), after SGLang's
cache-aware router: send a request to the replica that already holds the longest prefix
of its prompt when that match covers enough of the prompt and that replica is not
overloaded; otherwise to the least-loaded replica.

The candidates are those the locality and residency filters left (a failover level of the
gateway's plan): this is the step after them, never instead of them. The caller passes
each candidate's load, its matched blocks (`prefix.PrefixIndex.match`) and the prompt's
length in blocks, and gets an index and the reason back.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from crosscloud.planning import routing


@dataclass(frozen=True)
class AffinityConfig:
    """Thresholds, SGLang router's documented defaults but for the balance ones: its
    balance_abs_threshold 32 assumes hundreds of requests per GPU replica, so a replica
    here counts as overloaded `balance_abs` requests over the least-loaded one (measured
    in `bench/llm`: with 32 no hot spot was ever seen as one)."""

    cache_threshold: float = 0.5
    balance_abs: int = 2
    balance_rel: float = 1.0001


class Reason(enum.Enum):
    """Why a replica was chosen (counted in the gateway's metrics)."""

    HIT = "hit"  # the longest match, long enough, not overloaded
    MISS = "miss"  # no match long enough: least-loaded
    OVERLOADED = "overloaded"  # the best match was overloaded: least-loaded


def least_loaded(
    hosts: Sequence[routing.HostLoad], rng: routing.Rng, sizes: Sequence[int] | None = None
) -> int:
    """The index of a host with the fewest requests in flight; among those, the one that
    holds the fewest prefix blocks (`sizes`: SGLang's "smallest tree", the most room for a
    new prefix); further ties from a random start, so that idle replicas share misses."""
    n = len(hosts)
    start = int(rng.random() * n)
    best = start
    for k in range(1, n):
        i = (start + k) % n
        a, b = hosts[i].active, hosts[best].active
        if a < b or (a == b and sizes is not None and sizes[i] < sizes[best]):
            best = i
    return best


def pick(
    hosts: Sequence[routing.HostLoad],
    matched: Sequence[int],
    total: int,
    rng: routing.Rng,
    config: AffinityConfig,
    sizes: Sequence[int] | None = None,
) -> tuple[int, Reason]:
    """The candidate for a prompt of `total` blocks, `matched[i]` of them held by host i
    (`sizes[i]`: all the blocks host i holds, for ties between least-loaded hosts)."""
    n = len(hosts)
    best = 0
    for i in range(1, n):  # the longest match; among equal ones the least loaded
        if matched[i] > matched[best] or (
            matched[i] == matched[best] and hosts[i].active < hosts[best].active
        ):
            best = i
    if total <= 0 or matched[best] == 0 or matched[best] < config.cache_threshold * total:
        return least_loaded(hosts, rng, sizes), Reason.MISS
    low = min(h.active for h in hosts)
    load = hosts[best].active
    if load - low > config.balance_abs and load > low * config.balance_rel:
        return least_loaded(hosts, rng, sizes), Reason.OVERLOADED
    return best, Reason.HIT
