"""The cheapest way to host n replicas of one service in one placement: which instance types
fit a replica, how many replicas each holds, and a covering knapsack over them. Pure.

Money is integer micro-USD per hour here, so sums are exact and ties are stable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from crosscloud.domain import catalog, quantity

#: A request for the key is met by any accelerator in the value (same chip, more memory).
SATISFIES = {
    "A100": ("A100", "A100-80GB"),
    "H100": ("H100", "H100-80GB"),
    "H100-80GB": ("H100-80GB", "H100"),
}
_EPSILON = 1e-9


def micros(usd: float) -> int:
    return round(usd * 1_000_000)


def usd(amount: int) -> float:
    return amount / 1_000_000


def accelerator_kinds(accelerator: quantity.Accelerator | None) -> tuple[str | None, ...]:
    """Catalog accelerator names that can run a replica needing `accelerator`."""
    if accelerator is None:
        return (None,)
    return SATISFIES.get(accelerator.name, (accelerator.name,))


@dataclass(frozen=True)
class Need:
    """One replica's resources, and what every instance keeps for itself."""

    cpu: float
    memory_bytes: int
    accelerator: quantity.Accelerator | None
    reserved_cpu: float = 0.0
    reserved_memory_bytes: int = 0


@dataclass(frozen=True)
class Offer:
    """An instance type that fits at least one replica, priced as it would be billed."""

    row: catalog.CatalogRow
    per_instance: int
    price: int
    spot: bool


@dataclass(frozen=True, slots=True)
class Priced:
    """A catalog row with its billed price worked out once per plan (spot or on demand)."""

    row: catalog.CatalogRow
    price: int
    spot: bool
    memory_bytes: int


def priced(rows: Sequence[catalog.CatalogRow], *, spot: bool) -> list[Priced]:
    """Rows with billed prices, cheapest first (ties by instance type, so order is stable)."""
    out = []
    for row in rows:
        price, on_spot = micros(row.price_hour), False
        if spot and row.spot_price_hour is not None and micros(row.spot_price_hour) < price:
            price, on_spot = micros(row.spot_price_hour), True
        out.append(Priced(row, price, on_spot, row.memory_bytes))
    out.sort(key=lambda p: (p.price, p.row.instance_type))
    return out


def per_instance(row: catalog.CatalogRow, need: Need, memory_bytes: int | None = None) -> int:
    """How many replicas one instance of `row` holds (0: not even one)."""
    if need.accelerator is None:
        if row.accelerator is not None:
            return 0
        by_accelerator = math.inf
    else:
        if row.accelerator not in accelerator_kinds(need.accelerator):
            return 0
        by_accelerator = row.accelerator_count // need.accelerator.count
    by_cpu = math.floor((row.vcpus - need.reserved_cpu) / need.cpu + _EPSILON)
    memory = row.memory_bytes if memory_bytes is None else memory_bytes
    by_memory = (memory - need.reserved_memory_bytes) // need.memory_bytes
    return int(max(0, min(by_accelerator, by_cpu, by_memory)))


def offers(rows: Sequence[Priced], need: Need, *, most: int) -> list[Offer]:
    """The offers worth considering for up to `most` replicas, from rows sorted cheapest
    first: fitting rows, minus those an unlimited cheaper-or-equal offer holds as many as.
    Stops once an unlimited offer holds all `most` replicas: nothing dearer can beat it."""
    kept: list[Offer] = []
    best_unlimited = 0
    for item in rows:
        held = min(per_instance(item.row, need, item.memory_bytes), most)
        if held <= best_unlimited:
            continue
        kept.append(Offer(item.row, held, item.price, item.spot))
        if item.row.max_instances is None:
            best_unlimited = held
            if held >= most:
                break
    return kept


_Chain = tuple[int, "_Chain"] | None


@dataclass(frozen=True)
class Curve:
    """`cost[n]`: least micro-USD/h to host n replicas here (None: impossible)."""

    cost: tuple[int | None, ...]
    offers: tuple[Offer, ...]
    chains: tuple[_Chain, ...]

    def pick(self, n: int) -> list[tuple[Offer, int]]:
        """The instances behind `cost[n]`: (offer, how many), in catalog-price order."""
        counts: dict[int, int] = {}
        chain = self.chains[n]
        while chain is not None:
            index, chain = chain
            counts[index] = counts.get(index, 0) + 1
        return [(self.offers[i], counts[i]) for i in sorted(counts)]


def cover(found: Sequence[Offer], most: int) -> Curve:
    """Least cost to host 0..most replicas with any multiset of the offers (a covering
    knapsack; offers limited to `max_instances` are used at most that many times)."""
    cost: list[int | None] = [0] + [None] * most
    chains: list[_Chain] = [None] * (most + 1)
    for index, offer in enumerate(found):
        limit = offer.row.max_instances
        if limit is None or limit >= most:
            _add_unlimited(index, offer, cost, chains)
        else:
            for _ in range(limit):
                _add_once(index, offer, cost, chains)
    return Curve(tuple(cost), tuple(found), tuple(chains))


def _add_unlimited(index: int, offer: Offer, cost: list[int | None], chains: list[_Chain]) -> None:
    for n in range(1, len(cost)):
        rest = max(0, n - offer.per_instance)
        base = cost[rest]
        if base is not None and (cost[n] is None or base + offer.price < cost[n]):  # type: ignore[operator]
            cost[n] = base + offer.price
            chains[n] = (index, chains[rest])


def _add_once(index: int, offer: Offer, cost: list[int | None], chains: list[_Chain]) -> None:
    for n in range(len(cost) - 1, 0, -1):
        rest = max(0, n - offer.per_instance)
        base = cost[rest]
        if base is not None and (cost[n] is None or base + offer.price < cost[n]):  # type: ignore[operator]
            cost[n] = base + offer.price
            chains[n] = (index, chains[rest])


def split(curves: Sequence[Curve], most: int) -> tuple[list[int | None], list[list[int]]]:
    """Least cost to host 0..most replicas over several placements together, and for each
    placement (in order) how many of n it takes in that optimum (a min-plus convolution)."""
    best: list[int | None] = [0] + [None] * most
    takes: list[list[int]] = []
    for curve in curves:
        merged: list[int | None] = [None] * (most + 1)
        take = [0] * (most + 1)
        for n in range(most + 1):
            for m in range(min(n, len(curve.cost) - 1) + 1):
                here, before = curve.cost[m], best[n - m]
                if here is None or before is None:
                    continue
                total = here + before
                current = merged[n]
                if current is None or total < current:
                    merged[n], take[n] = total, m
        best = merged
        takes.append(take)
    return best, takes
