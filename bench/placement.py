"""Placement optimizer speed: plan 20 services over a 10,000-row synthetic catalog.

Run: .venv/bin/python bench/placement.py [--runs 15]
Prints the median (and min/max) milliseconds of `placement.plan` over several runs; the goal
is under 100 ms. The catalog is seeded, so every run plans the same problem.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from crosscloud.domain import catalog, quantity
from crosscloud.planning import placement

GI = 2**30
GPUS = ["T4", "L4", "A10G", "A100", "A100-80GB", "H100", "L40S"]


def synthetic_catalog(rows: int, rng: random.Random) -> list[catalog.CatalogRow]:
    """`rows` offerings over 3 providers x 30 regions, a third of them GPU types."""
    out = []
    for i in range(rows):
        provider = ("aws", "azure", "gcp")[i % 3]
        region = f"region-{(i // 3) % 30}"
        gpu = rng.choice(GPUS) if (i // 3) % 3 == 0 else None
        vcpus = rng.choice([2, 4, 8, 16, 32, 64])
        price = round(rng.uniform(0.05, 3.0) * vcpus / 4 + (2.0 if gpu else 0.0), 4)
        out.append(
            catalog.CatalogRow(
                provider=provider,
                region=region,
                instance_type=f"type-{i}",
                accelerator=gpu,
                accelerator_count=rng.choice([1, 2, 4, 8]) if gpu else 0,
                vcpus=vcpus,
                memory_gib=vcpus * rng.choice([2, 4, 8]),
                price_hour=price,
                spot_price_hour=round(price * rng.uniform(0.2, 0.7), 4)
                if rng.random() < 0.7
                else None,
            )
        )
    return out


def services(rng: random.Random) -> list[placement.ServiceDemand]:
    out = []
    for i in range(20):
        gpu = rng.choice([None, None, *GPUS[:4]])
        out.append(
            placement.ServiceDemand(
                name=f"svc-{i}",
                cpu=rng.choice([0.5, 1, 2, 4]),
                memory_bytes=rng.choice([1, 2, 4, 8]) * GI,
                accelerator=quantity.Accelerator(gpu, rng.choice([1, 1, 2])) if gpu else None,
                replicas=rng.randint(2, 8),
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(20261127)
    rows = synthetic_catalog(args.rows, rng)
    demands = services(rng)
    limits = placement.Constraints(spot=True, min_clouds=2, max_replicas_per_placement=4)
    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        plan = placement.plan(demands, rows, limits)
        timings.append((time.perf_counter() - start) * 1000)
    assert plan.feasible, plan.all_problems()[:5]
    print(
        f"placement.plan: {len(demands)} services x {len(rows)} catalog rows, "
        f"{len(plan.assignments)} assignments, ${plan.hourly:.2f}/h"
    )
    print(
        f"median {statistics.median(timings):.1f} ms  min {min(timings):.1f}  "
        f"max {max(timings):.1f}  over {args.runs} runs (goal < 100 ms)"
    )


if __name__ == "__main__":
    main()
