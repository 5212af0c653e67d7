"""Spot policy simulation: thousands of simulated hours of per-region spot availability,
the spot policy of `planning/spot.py` against two naive ones, priced from the catalog.

Run: .venv/bin/python bench/spot.py [--hours 5000] [--seeds 3] [--replicas 4]

The world, one step a minute: each region's spot capacity is a Markov chain, on for a
mean of `--mean-up` hours, off for a mean of `--mean-down` hours; besides, mass
preemptions (on average every `--mass-every` hours) take half of the regions off at once.
When a region goes off, its spot replicas get a notice (`--notice` minutes) and count as
gone from then on (the gateway sends them nothing new); a spot launch in a region that is
off fails after a minute; each replica needs `--start` minutes to get ready; on-demand
capacity is always there. Replicas are billed from launch until they are gone.

Policies, each fed the same world (same seed):
  crosscloud   the manifest's defaults: spot: {overprovision: 1, dynamicFallback: true}
               over every region (the SpotHedge shape)
  spot-only    every replica on spot over every region, no extra, no on-demand fallback
  one-region   spot with the same fallback and extra replica, but in one region only
Prints cost against running `--replicas` on-demand replicas in the cheapest region, and
the share of minutes with at least `--replicas` replicas ready.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from crosscloud.adapters.clouds import catalog as catalog_adapter
from crosscloud.planning import spot

RESULTS = Path(__file__).parent / "results"


@dataclass
class Replica:
    location: str
    on_spot: bool
    launched: int  # minute
    ready_at: int  # minute it gets ready (or the minute a failed launch is noticed)
    failed: bool = False  # a spot launch with no capacity
    noticed: int | None = None  # minute of the preemption notice


@dataclass
class World:
    """Per-region spot on/off over time, drawn once per seed."""

    off: dict[str, list[bool]] = field(default_factory=dict)


def locations(gpu: str) -> list[spot.Location]:
    """The cheapest 1-GPU instance of `gpu` per (provider, region) with a spot price."""
    best: dict[str, spot.Location] = {}
    for row in catalog_adapter.shipped():
        if row.accelerator != gpu or row.accelerator_count != 1 or row.spot_price_hour is None:
            continue
        lid = f"{row.provider}/{row.region}"
        loc = spot.Location(lid, lid, row.spot_price_hour, row.price_hour)
        if lid not in best or loc.on_demand_price < best[lid].on_demand_price:
            best[lid] = loc
    return sorted(best.values(), key=lambda loc: loc.id)


def draw_world(regions: list[str], *, minutes: int, args: argparse.Namespace, seed: int) -> World:
    rng = random.Random(seed)
    world = World({r: [False] * minutes for r in regions})
    for region in regions:
        t, up = 0, rng.random() > args.mean_down / (args.mean_up + args.mean_down)
        while t < minutes:
            mean = args.mean_up if up else args.mean_down
            span = max(1, round(rng.expovariate(1 / (mean * 60))))
            if not up:
                world.off[region][t : t + span] = [True] * min(span, minutes - t)
            t, up = t + span, not up
    t = 0
    while True:
        t += max(1, round(rng.expovariate(1 / (args.mass_every * 60))))
        if t >= minutes:
            return world
        span = max(1, round(rng.expovariate(1 / (args.mean_down * 60))))
        for region in rng.sample(regions, len(regions) // 2):
            world.off[region][t : t + span] = [True] * min(span, minutes - t)


def simulate(
    world: World,
    locs: list[spot.Location],
    settings: spot.Settings,
    *,
    minutes: int,
    args: argparse.Namespace,
) -> tuple[float, float]:
    """(dollars, share of minutes with enough ready replicas) for one policy."""
    live: list[Replica] = []
    preempted: dict[str, float] = {}
    price = {loc.id: loc for loc in locs}
    dollars, enough = 0.0, 0
    for now in range(minutes):
        live = _world_step(world, live, preempted, now=now, notice=args.notice)
        seen = _seen(live, now)
        wanted = spot.plan(
            args.replicas,
            settings=settings,
            locations=locs,
            seen=seen,
            preempted=preempted,
            now=now * 60.0,
        )
        live = _act(live, wanted, seen, now=now, start=args.start, off=world.off)
        ready = sum(1 for r in live if r.noticed is None and not r.failed and r.ready_at <= now)
        enough += ready >= args.replicas
        for r in live:
            loc = price[r.location]
            dollars += (loc.spot_price if r.on_spot else loc.on_demand_price) / 60
    return dollars, enough / minutes


def _world_step(
    world: World, live: list[Replica], preempted: dict[str, float], *, now: int, notice: int
) -> list[Replica]:
    """Notices for spot replicas in regions that went off; failed launches seen; replicas
    whose notice ran out are gone."""
    for r in live:
        if not r.on_spot or r.noticed is not None:
            continue
        if r.failed and r.ready_at <= now:
            r.noticed = now - notice  # a launch that never got capacity: gone at once
            preempted[r.location] = now * 60.0
        elif not r.failed and world.off[r.location][now]:
            r.noticed = now
            preempted[r.location] = now * 60.0
    return [r for r in live if r.noticed is None or now - r.noticed < notice]


def _seen(live: list[Replica], now: int) -> dict[str, spot.Seen]:
    out: dict[str, spot.Seen] = {}
    for r in live:
        if r.noticed is not None:
            continue
        s = out.get(r.location, spot.Seen())
        ready = int(not r.failed and r.ready_at <= now)
        if r.on_spot:
            out[r.location] = spot.Seen(s.spot + 1, s.spot_ready + ready, s.on_demand)
        else:
            out[r.location] = spot.Seen(s.spot, s.spot_ready, s.on_demand + 1)
    return out


def _act(
    live: list[Replica],
    wanted: spot.Plan,
    seen: dict[str, spot.Seen],
    *,
    now: int,
    start: int,
    off: dict[str, list[bool]],
) -> list[Replica]:
    """Launch and stop replicas so each location's counts match the plan (newest stop first)."""
    for on_spot, counts in ((True, wanted.spot), (False, wanted.on_demand)):
        for loc, n in counts.items():
            s = seen.get(loc, spot.Seen())
            have = s.spot if on_spot else s.on_demand
            for _ in range(n - have):
                failed = on_spot and off[loc][now]
                live.append(Replica(loc, on_spot, now, now + (1 if failed else start), failed))
            if n < have:
                mine = [r for r in live if r.location == loc and r.on_spot == on_spot]
                drop = sorted((r for r in mine if r.noticed is None), key=lambda r: -r.launched)[
                    : have - n
                ]
                live = [r for r in live if r not in drop]
    return live


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--gpu", default="L4")
    parser.add_argument("--overprovision", type=int, default=1)
    parser.add_argument("--mean-up", type=float, default=24.0, help="hours a region keeps spot")
    parser.add_argument("--mean-down", type=float, default=2.0, help="hours it has none")
    parser.add_argument(
        "--mass-every", type=float, default=168.0, help="hours between mass preemptions"
    )
    parser.add_argument("--notice", type=int, default=2, help="minutes of notice")
    parser.add_argument("--start", type=int, default=3, help="minutes for a replica to get ready")
    args = parser.parse_args()
    locs = locations(args.gpu)
    cheapest_spot = min(locs, key=lambda loc: loc.spot_price)
    hedge = spot.Settings(overprovision=args.overprovision)
    policies = {
        "crosscloud": (locs, hedge),
        "spot-only": (locs, spot.Settings(dynamic_fallback=False, overprovision=0)),
        "one-region": ([cheapest_spot], hedge),
    }
    minutes = args.hours * 60
    baseline = args.replicas * min(loc.on_demand_price for loc in locs) * args.hours
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in policies}
    for seed in range(args.seeds):
        world = draw_world([loc.id for loc in locs], minutes=minutes, args=args, seed=seed)
        for name, (where, settings) in policies.items():
            rows[name].append(simulate(world, where, settings, minutes=minutes, args=args))
    print(
        f"{len(locs)} regions with {args.gpu} spot, {args.replicas} replicas wanted,"
        f" {args.hours} h x {args.seeds} seeds; all on-demand ${baseline / args.hours:.2f}/h"
    )
    print(f"{'policy':<12} {'cost vs all on-demand':>22} {'minutes with enough ready':>26}")
    out = {}
    for name, results in rows.items():
        cost = sum(d for d, _ in results) / (baseline * len(results))
        avail = min(a for _, a in results)
        out[name] = {"cost_ratio": cost, "availability_min": avail}
        print(f"{name:<12} {cost:>21.2f}x {avail * 100:>25.3f}%")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "spot.json").write_text(json.dumps({"args": vars(args), "policies": out}, indent=2))


if __name__ == "__main__":
    main()
