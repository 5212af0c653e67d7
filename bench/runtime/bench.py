"""crosscloud's runtime benchmark (issue 2, item 7): run by `bash bench/run.sh runtime`.

Prints medians of interleaved rounds as ratios to the floor (a bare ASGI app on uvicorn),
the embeddings example against its model's in-process limit, the echo example's cold start
and memory, and the goals met or missed; writes everything as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import coldstart
import embeddings
import report
import servers
import trivial

PARTS = ("trivial", "embeddings", "coldstart")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=5, help="seconds per wrk run")
    parser.add_argument("--cold-repeats", type=int, default=5, help="cold starts per server")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma list of " + ",".join(PARTS))
    names = ",".join(s.name for s in servers.contenders())
    parser.add_argument("--contenders", default=names, help=f"comma list of {names}")
    return parser.parse_args()


def main() -> None:
    args = _args()
    parts = args.parts.split(",")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = servers.ROOT / "bench" / "results"
    log_dir = out_dir / f"runtime-{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "when": stamp,
        "cpus": len(os.sched_getaffinity(0)),
        "rounds": args.rounds,
        "seconds": args.seconds,
    }
    if "trivial" in parts:
        print(f"trivial handler: {args.rounds} rounds x {args.seconds:g} s", flush=True)
        names = args.contenders.split(",")
        results["trivial"] = trivial.run(
            names=names, rounds=args.rounds, seconds=args.seconds, log_dir=log_dir
        )
    if "embeddings" in parts:
        print("embeddings example", flush=True)
        results["embeddings"] = embeddings.run(
            rounds=args.rounds, seconds=args.seconds, log_dir=log_dir
        )
    if "coldstart" in parts:
        print("cold start and memory", flush=True)
        results["coldstart"] = coldstart.run(repeats=args.cold_repeats, log_dir=log_dir)
    results["goals"] = report.goals(results)
    _print(results)
    path = out_dir / f"runtime-{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {path.relative_to(servers.ROOT)}")


def _print(results: dict[str, Any]) -> None:
    if "trivial" in results:
        print("\nTrivial JSON handler (medians; ratio to the floor in parentheses)")
        print(report.trivial_table(results["trivial"]))
    if "embeddings" in results:
        print("\nEmbeddings (examples/embeddings, medians; per_s = sentences/s, rps = req/s)")
        print(report.embeddings_table(results["embeddings"]["medians"]))
    if "coldstart" in results:
        print("\nCold start to first 200 and RSS after a few requests (medians)")
        print(report.coldstart_table(results["coldstart"]))
    print("\nGoals (issue 2)")
    print(report.goals_text(results["goals"]))


if __name__ == "__main__":
    main()
