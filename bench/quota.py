"""Fairness of per-token quotas (issue 14): does a noisy token pressing 10x its quota push a
quiet token's p99 up?

One gateway (this tree's) in front of two bare ASGI backends (bench/gateway/app.py), two
API tokens: `quiet` (no quota) and `noisy` (`--quota` requests/s, burst of one second's
worth). Each round measures the quiet token's latency, paced at `--quiet-rate` over 4
keep-alive connections, in three conditions, in an order that rotates every round:

- alone: nothing else;
- noisy: the noisy token sends 10x its quota at the same time (from its own process, so
  the two clients do not share an event loop), its excess answered 429 by the gateway;
- unlimited: the same noisy load from a token with no quota (what the quota prevents).

Printed: per condition the median over rounds of the quiet token's p50 and p99, the ratio
of p99 to alone's, and the noisy token's admitted rate.

    .venv/bin/python bench/quota.py [--rounds 5] [--seconds 5] [--quota 100] [--quiet-rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench" / "gateway")]

import gateway as gwbench  # noqa: E402  (bench/gateway/gateway.py: processes, ports)

from crosscloud.domain import tokens  # noqa: E402
from tests.e2e import paced  # noqa: E402

CONDITIONS = ("alone", "noisy", "unlimited")


def _token(name: str) -> tuple[str, str]:
    token_id, text = tokens.new_token(os.urandom(tokens.ID_BYTES), os.urandom(tokens.SECRET_BYTES))
    return token_id, text


def _conf(tmp: Path, port: int, backends: list[int], entries: list[dict[str, object]]) -> Path:
    ups = [{"id": f"b{i}", "port": p, "placement": f"local/r{i}"} for i, p in enumerate(backends)]
    conf = tmp / "gateway.json"
    service = {"name": "svc", "upstreams": ups, "auth": {"tokens": entries}}
    conf.write_text(json.dumps({"listen": {"port": port}, "services": [service]}))
    return conf


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _quiet(url: str, token: str, rate: float, seconds: float) -> tuple[float, float]:
    """p50 and p99 in ms of the quiet token's answers (all must be 200)."""
    answers = asyncio.run(paced.load(url, token=token, rate=rate, seconds=seconds))
    bad = [a.status for a in answers if a.status != 200]
    if bad:
        raise SystemExit(f"the quiet token got {len(bad)} non-200 answers: {set(bad)}")
    ms = [(a.done - a.sent) * 1000 for a in answers]
    return _percentile(ms, 0.50), _percentile(ms, 0.99)


def _noisy(url: str, token: str, rate: float, seconds: float) -> subprocess.Popen[str]:
    argv = [str(gwbench.PY), __file__, "--noisy", url, token, str(rate), str(seconds)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _noisy_main(url: str, token: str, rate: float, seconds: float) -> None:
    answers = asyncio.run(paced.load(url, token=token, rate=rate, seconds=seconds, connections=8))
    ok = sum(a.status == 200 for a in answers)
    span = max(a.done for a in answers)
    print(json.dumps({"sent": len(answers) / span, "admitted": ok / span}))


def one(
    condition: str, url: str, who: dict[str, str], args: argparse.Namespace
) -> dict[str, float]:
    load = None
    if condition != "alone":
        token = who["noisy"] if condition == "noisy" else who["unlimited"]
        load = _noisy(url, token, 10 * args.quota, args.seconds + 2)
        time.sleep(1.0)  # the noisy load is on (and its burst spent) before measuring
    p50, p99 = _quiet(url, who["quiet"], args.quiet_rate, args.seconds)
    out = {"p50": p50, "p99": p99}
    if load is not None:
        found, _ = load.communicate(timeout=120)
        out.update(json.loads(found))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quota", type=float, default=100.0, help="the noisy token's req/s")
    parser.add_argument("--quiet-rate", type=float, default=100.0)
    parser.add_argument("--noisy", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noisy:
        url, token, rate, seconds = args.noisy
        _noisy_main(url, token, float(rate), float(seconds))
        return
    ids = {name: _token(name) for name in ("quiet", "noisy", "unlimited")}
    quota = {"rps": args.quota}
    entries: list[dict[str, object]] = [
        {"id": i, "sha256": tokens.digest(t.encode()).hex()} for i, t in ids.values()
    ]
    entries[1]["quota"] = quota
    who = {name: text for name, (_, text) in ids.items()}
    with tempfile.TemporaryDirectory(prefix="bench-quota-") as tmpdir:
        tmp = Path(tmpdir)
        procs = gwbench.Procs(tmp)
        try:
            backends = [gwbench.free_port(), gwbench.free_port()]
            for i, port in enumerate(backends):
                argv = [str(gwbench.PY), "-m", "uvicorn", "--app-dir", str(gwbench.HERE), "app:app"]
                argv += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
                argv += ["--no-access-log", "--log-level", "warning"]
                gwbench.wait_http(f"http://127.0.0.1:{port}/", procs.start(argv, f"backend{i}"))
            port = gwbench.free_port()
            conf = _conf(tmp, port, backends, entries)
            env = ["env", f"PYTHONPATH={ROOT / 'src'}", str(gwbench.PY)]
            gw = procs.start(
                [*env, "-m", "crosscloud.cli.main", "gateway", "--config", str(conf)], "gw"
            )
            url = f"http://127.0.0.1:{port}/svc/"
            gwbench.wait_http(url, gw)
            runs: dict[str, list[dict[str, float]]] = {c: [] for c in CONDITIONS}
            for r in range(args.rounds):
                order = CONDITIONS[r % 3 :] + CONDITIONS[: r % 3]
                for condition in order:
                    runs[condition].append(one(condition, url, who, args))
                line = ", ".join(f"{c} p99 {runs[c][-1]['p99']:.2f} ms" for c in CONDITIONS)
                print(f"round {r + 1}: {line}", flush=True)
        finally:
            procs.stop()
    report(runs, args)


def report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    alone = statistics.median(x["p99"] for x in runs["alone"])
    print(f"quiet token {args.quiet_rate:g} req/s; noisy token quota {args.quota:g} req/s")
    for c in CONDITIONS:
        p50 = statistics.median(x["p50"] for x in runs[c])
        p99 = statistics.median(x["p99"] for x in runs[c])
        ratios = [x["p99"] / a["p99"] for x, a in zip(runs[c], runs["alone"], strict=True)]
        extra = ""
        if c != "alone":
            sent = statistics.median(x["sent"] for x in runs[c])
            admitted = statistics.median(x["admitted"] for x in runs[c])
            extra = f"  noisy sent {sent:.0f}/s, admitted {admitted:.1f}/s"
        print(
            f"{c:<10} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  p99/alone {p99 / alone:.2f}"
            f" (paired median {statistics.median(ratios):.2f}){extra}"
        )


if __name__ == "__main__":
    main()
