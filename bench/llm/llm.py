"""LLM routing benchmark (issue 13): prefix-affinity vs least-request through crosscloud's
gateway, and a session-sticky oracle straight to the replicas, over 8 mock engines
(`crosscloud.testing.mock_llm`) in 3 local regions.

Side by side in one run: two gateways over the same 8 replicas (one per policy), rounds
interleaved (the order rotates), the replicas' caches and counters reset before each run,
medians over rounds. Per run: time to first token (p50, p90) from the client's streams,
the cache hit rate (the replicas' vllm:prefix_cache_hits / queries), the in-flight
balance (each replica's time-averaged requests in flight, max / mean), and the gateway's
CPU per request (utime + stime from /proc).

    bash bench/run.sh llm [--rounds 3] [--tenants 16] [--sessions 48] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import workload  # the benchmark's own module beside it

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv" / "bin" / "python"
TINY_GPT = str(ROOT / "examples" / "llm" / "service.py") + ":TinyChat"
ENGINES = {
    "mock": workload.Engine(model="bench-model", bytes_per_token=4),
    "tiny-gpt": workload.Engine(model="tiny-gpt", bytes_per_token=1),
}
TICK = os.sysconf("SC_CLK_TCK")
REGIONS = ["local/region-a"] * 3 + ["local/region-b"] * 3 + ["local/region-c"] * 2
GOALS = {
    "ttft_p50_gain": 3.0,  # least-request p50 / prefix-affinity p50, multi-tenant
    "control_ratio": 1.1,  # prefix-affinity p50 / least-request p50, control
    "hit_vs_oracle": 0.9,
    "inflight_max_over_mean": 1.5,
    "cpu_vs_least_request": 1.2,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Procs:
    """What this benchmark started, stopped by pid at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], name: str, ready: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited:\n{(self.tmp / f'{name}.log').read_text()}")
            try:
                if httpx.get(ready, timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit(f"{name} not ready")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def regions(args: argparse.Namespace) -> list[str]:
    """8 mock replicas in 3 regions (3 + 3 + 2), or one tiny-gpt replica in each."""
    return REGIONS if args.engine == "mock" else REGIONS[::3]


def start_replicas(procs: Procs, args: argparse.Namespace) -> list[int]:
    ports = []
    for i in range(len(regions(args))):
        port = free_port()
        if args.engine == "tiny-gpt":  # examples/llm: a real GPT-2 on the CPU, prefix KV cache
            argv = [str(PY), "-m", "crosscloud.cli.main", "serve", TINY_GPT, "--port", str(port)]
            procs.start(argv, f"replica{i}", f"http://127.0.0.1:{port}/readyz")
            ports.append(port)
            continue
        argv = [str(PY), "-m", "crosscloud.testing.mock_llm", "--port", str(port)]
        argv += ["--model", "bench-model", "--prefill-rate", str(args.prefill_rate)]
        argv += ["--decode-rate", str(args.decode_rate), "--max-seqs", str(args.max_seqs)]
        argv += ["--cache-blocks", str(args.cache_blocks)]
        procs.start(argv, f"replica{i}", f"http://127.0.0.1:{port}/health")
        ports.append(port)
    return ports


def start_gateway(
    procs: Procs, tmp: Path, policy: str, replicas: list[int], args: argparse.Namespace
) -> tuple[int, str]:
    port = free_port()
    where = regions(args)
    ups = [{"id": f"r{i}", "port": p, "placement": where[i]} for i, p in enumerate(replicas)]
    service = {
        "name": "chat",
        "policy": policy,
        "models": [ENGINES[args.engine].model],
        "timeout": "120s",
        "retries": {"attempts": 2, "perTryTimeout": "60s"},
        "upstreams": ups,
        "affinity": {
            "cacheThreshold": args.cache_threshold,
            "balanceAbsThreshold": args.balance_abs,
            "balanceRelThreshold": args.balance_rel,
        },
    }
    conf = tmp / f"gateway-{policy}.json"
    conf.write_text(json.dumps({"listen": {"port": port}, "services": [service]}))
    argv = [str(PY), "-m", "crosscloud.cli.main", "gateway", "--config", str(conf)]
    proc = procs.start(argv, f"gateway-{policy}", f"http://127.0.0.1:{port}/healthz")
    return proc.pid, f"http://127.0.0.1:{port}"


def scrape(port: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("{")[0], float(line.rsplit(" ", 1)[1])
            out[name] = out.get(name, 0.0) + value
    return out


def one_run(
    name: str,
    wl: workload.Workload,
    router: workload.Router,
    replicas: list[int],
    gateway_pid: int | None,
    concurrency: int,
) -> dict[str, float]:
    for port in replicas:  # the mock empties its cache; tiny-gpt has no such route
        httpx.post(f"http://127.0.0.1:{port}/-/reset")
    start = [scrape(p) for p in replicas]
    before = cpu_seconds(gateway_pid) if gateway_pid else 0.0
    result = asyncio.run(workload.run(wl, router, concurrency=concurrency))
    cpu = cpu_seconds(gateway_pid) - before if gateway_pid else float("nan")
    end = [scrape(p) for p in replicas]

    def grown(name: str) -> float:
        return sum(b.get(name, 0.0) - a.get(name, 0.0) for a, b in zip(start, end, strict=True))

    hits = grown("vllm:prefix_cache_hits_total")
    queries = grown("vllm:prefix_cache_queries_total")
    loads = [  # time-averaged sequences in flight (the mock's); else the requests served
        s.get("mock_inflight_seconds_total", 0.0) / s.get("mock_uptime_seconds", 1.0)
        if "mock_uptime_seconds" in s
        else s.get("vllm:request_success_total", 0.0) - a.get("vllm:request_success_total", 0.0)
        for a, s in zip(start, end, strict=True)
    ]
    ttft = sorted(result.ttft)
    return {
        "ttft_p50_ms": statistics.median(ttft) * 1000,
        "ttft_p90_ms": ttft[int(0.9 * (len(ttft) - 1))] * 1000,
        "hit_rate": hits / queries if queries else 0.0,
        "inflight_max_over_mean": max(loads) / statistics.mean(loads) if sum(loads) else 0.0,
        "cpu_us": cpu / result.requests * 1e6 if result.requests else float("nan"),
        "requests": result.requests,
        "failed": result.failed,
        "seconds": result.elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--engine",
        choices=sorted(ENGINES),
        default="mock",
        help="the replicas: 8 mock engines, or 3 of examples/llm's real tiny-gpt",
    )
    parser.add_argument("--tenants", type=int, default=16, help="system prompts (K)")
    parser.add_argument("--sessions", type=int, default=48, help="multi-turn sessions a run")
    parser.add_argument("--control", type=int, default=64, help="control requests a run")
    parser.add_argument("--concurrency", type=int, default=16, help="sessions at once")
    parser.add_argument("--prefill-rate", type=float, default=25_000, help="tokens/s a replica")
    parser.add_argument("--decode-rate", type=float, default=50, help="tokens/s a sequence")
    parser.add_argument("--max-seqs", type=int, default=8, help="sequences at once a replica")
    parser.add_argument(
        "--cache-blocks", type=int, default=1500, help="a replica's cache (16-token blocks)"
    )
    parser.add_argument("--cache-threshold", type=float, default=0.5, help="prefix-affinity")
    parser.add_argument("--balance-abs", type=int, default=2, help="prefix-affinity")
    parser.add_argument("--balance-rel", type=float, default=1.0001, help="prefix-affinity")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmpdir:
        tmp = Path(tmpdir)
        procs = Procs(tmp)
        try:
            rounds = run_rounds(procs, tmp, args)
        finally:
            procs.stop()
    med = report(rounds)
    out = ROOT / "bench" / "results" / "llm.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "medians": med, "rounds": rounds}, indent=1))
    print(f"\nwrote {out.relative_to(ROOT)}")


def run_rounds(
    procs: Procs, tmp: Path, args: argparse.Namespace
) -> list[dict[str, dict[str, float]]]:
    replicas = start_replicas(procs, args)
    gateways = {
        p: start_gateway(procs, tmp, p, replicas, args)
        for p in ("least-request", "prefix-affinity")
    }
    urls = [f"http://127.0.0.1:{p}" for p in replicas]
    time.sleep(1.5)  # the gateways' first health checks
    rounds = []
    for r in range(args.rounds):
        runs = round_runs(args, r, urls)
        order = list(runs)
        order = order[r % len(order) :] + order[: r % len(order)]
        found = {}
        for name in order:
            wl, router, policy = runs[name]
            pid = gateways[policy][0] if policy else None
            if router is None:
                assert policy is not None
                router = workload.Gateway(gateways[policy][1])
            found[name] = one_run(name, wl, router, replicas, pid, args.concurrency)
            print(f"round {r + 1} {name:<24} " + _line(found[name]), flush=True)
        rounds.append(found)
    return rounds


Run = tuple[workload.Workload, workload.Router | None, str | None]


def round_runs(args: argparse.Namespace, r: int, urls: list[str]) -> dict[str, Run]:
    """Each contender of round `r`: (workload, router or None for a gateway, policy).

    The mock's caches are emptied between runs, so every run gets the same requests;
    tiny-gpt's cannot be, so each run gets prompts of its own (the same shapes)."""
    engine = ENGINES[args.engine]
    fresh = args.engine != "mock"

    def seed(k: int) -> int:
        return r * 10 + k if fresh else r

    def shared(k: int) -> workload.Workload:
        return workload.multi_tenant(
            seed(k), tenants=args.tenants, sessions=args.sessions, engine=engine
        )

    def alone(k: int) -> workload.Workload:
        return workload.control(seed(k), requests=args.control, engine=engine)

    return {
        "least-request": (shared(0), None, "least-request"),
        "prefix-affinity": (shared(1), None, "prefix-affinity"),
        "sticky-oracle": (shared(2), workload.StickyOracle(urls), None),
        "control/least-request": (alone(3), None, "least-request"),
        "control/prefix-affinity": (alone(4), None, "prefix-affinity"),
    }


def _line(m: dict[str, float]) -> str:
    return (
        f"ttft p50 {m['ttft_p50_ms']:7.1f} ms  p90 {m['ttft_p90_ms']:7.1f} ms"
        f"  hit {m['hit_rate']:.2f}  in-flight max/mean {m['inflight_max_over_mean']:.2f}"
        f"  gateway CPU/req {m['cpu_us']:6.0f} us"
        f"  {m['requests']:.0f} req in {m['seconds']:.1f} s, {m['failed']:.0f} failed"
    )


def report(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    names = list(rounds[0])
    med = {n: {k: statistics.median(r[n][k] for r in rounds) for k in rounds[0][n]} for n in names}
    print(f"\nmedians over {len(rounds)} rounds")
    print(
        f"{'run':<26}{'TTFT p50 ms':>12}{'p90 ms':>9}{'hit rate':>10}{'max/mean':>10}"
        f"{'CPU/req us':>12}{'failed':>8}"
    )
    for n in sorted(names):
        m = med[n]
        print(
            f"{n:<26}{m['ttft_p50_ms']:>12.1f}{m['ttft_p90_ms']:>9.1f}{m['hit_rate']:>10.2f}"
            f"{m['inflight_max_over_mean']:>10.2f}{m['cpu_us']:>12.0f}"
            f"{sum(r[n]['failed'] for r in rounds):>8.0f}"
        )
    lr, pa, oracle = med["least-request"], med["prefix-affinity"], med["sticky-oracle"]
    c_lr, c_pa = med["control/least-request"], med["control/prefix-affinity"]
    ratios = {
        "ttft_p50_gain": lr["ttft_p50_ms"] / pa["ttft_p50_ms"],
        "control_ratio": c_pa["ttft_p50_ms"] / c_lr["ttft_p50_ms"],
        "hit_vs_oracle": pa["hit_rate"] / oracle["hit_rate"],
        "inflight_max_over_mean": pa["inflight_max_over_mean"],
        "cpu_vs_least_request": pa["cpu_us"] / lr["cpu_us"],
    }
    checks = [
        (
            "TTFT p50: least-request / prefix-affinity >= 3",
            ratios["ttft_p50_gain"] >= GOALS["ttft_p50_gain"],
        ),
        (
            "control TTFT p50: prefix-affinity / least-request <= 1.1",
            ratios["control_ratio"] <= GOALS["control_ratio"],
        ),
        (
            "cache hit rate >= 0.9x the session-sticky oracle's",
            ratios["hit_vs_oracle"] >= GOALS["hit_vs_oracle"],
        ),
        (
            "in-flight max/mean across replicas <= 1.5",
            ratios["inflight_max_over_mean"] <= GOALS["inflight_max_over_mean"],
        ),
        (
            "gateway CPU/request <= 1.2x least-request's",
            ratios["cpu_vs_least_request"] <= GOALS["cpu_vs_least_request"],
        ),
    ]
    print()
    for (text, ok), value in zip(checks, ratios.values(), strict=True):
        print(f"  [{'ok' if ok else 'MISS'}] {text}: {value:.2f}")
    med["ratios"] = ratios
    return med


if __name__ == "__main__":
    main()
