"""Prefix-affinity against least-request with the real small model: 3 tiny-gpt replicas
(examples/llm, 1 thread each) behind two gateways from config files, one per policy, on
the same multi-tenant workload (a few system prompts, multi-turn sessions), interleaved
rounds, fresh prompts each run (so no run finds another's cache). Reported: time to first
token p50/p90 at the client and the replicas' prefix cache hit rate.

    bash bench/run.sh tiny_gpt_routing [--rounds 3] [--tenants 4] [--sessions 12]

Scaled to what 3 replicas of a CPU model can prefill on 2 shared cores: system prompts of
600-1,500 byte tokens (bench/llm's are 2,000-6,000 mock tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready after {timeout}s")


def words(rng: random.Random, size: int) -> str:
    out = ""
    while len(out) < size:
        out += rng.choice(WORDS) + str(rng.randrange(100)) + " "
    return out[:size]


def workload(seed: int, tenants: int, sessions: int) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    systems = [
        f"tenant {seed}-{k}: " + words(rng, rng.randrange(600, 1500)) for k in range(tenants)
    ]
    return [
        (rng.choice(systems), [words(rng, rng.randrange(20, 60)) for _ in range(3)])
        for _ in range(sessions)
    ]


def session(base: str, system: str, turns: list[str]) -> list[float]:
    """One conversation, turn after turn; each turn's time to first token."""
    messages = [{"role": "system", "content": system}]
    ttfts = []
    with httpx.Client(timeout=300, trust_env=False) as client:
        for turn in turns:
            messages.append({"role": "user", "content": turn})
            body = {"model": "tiny-gpt", "messages": messages, "max_tokens": 8, "stream": True}
            started = time.perf_counter()
            first, reply = None, ""
            with client.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line.startswith("data: {"):
                        continue
                    delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                    if delta:
                        first = first or time.perf_counter()
                        reply += delta
            assert first is not None
            ttfts.append(first - started)
            messages.append({"role": "assistant", "content": reply})
    return ttfts


def counters(ports: list[int]) -> tuple[float, float]:
    hits = queries = 0.0
    for port in ports:
        for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
            if line.startswith("vllm:prefix_cache_hits_total"):
                hits += float(line.rsplit(" ", 1)[1])
            elif line.startswith("vllm:prefix_cache_queries_total"):
                queries += float(line.rsplit(" ", 1)[1])
    return hits, queries


def run(base: str, ports: list[int], seed: int, args: argparse.Namespace) -> dict[str, float]:
    before = counters(ports)
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(
            pool.map(lambda s: session(base, *s), workload(seed, args.tenants, args.sessions))
        )
    after = counters(ports)
    ttft = sorted(t for r in results for t in r)
    return {
        "p50": statistics.median(ttft),
        "p90": ttft[int(0.9 * (len(ttft) - 1))],
        "hit_rate": (after[0] - before[0]) / (after[1] - before[1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=3)
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix=f"tiny-gpt-routing-{os.getpid()}-"))
    try:
        ports = []
        for _ in range(args.replicas):
            port = free_port()
            argv = [PY, "-m", "crosscloud.runtime", str(ROOT / "examples/llm/service.py")]
            procs.append(subprocess.Popen([*argv, "--port", str(port)], stderr=subprocess.DEVNULL))
            ports.append(port)
        for port, proc in zip(ports, procs, strict=True):
            wait(f"http://127.0.0.1:{port}/readyz", proc)
        gateways = {}
        for policy in ("least-request", "prefix-affinity"):
            port = free_port()
            ups = [
                {"id": f"r{i}", "port": p, "placement": f"local/r{i}"} for i, p in enumerate(ports)
            ]
            service = {
                "name": "tiny-gpt",
                "policy": policy,
                "models": ["tiny-gpt"],
                "timeout": "300s",
                "upstreams": ups,
            }
            conf = tmp / f"{policy}.json"
            conf.write_text(json.dumps({"listen": {"port": port}, "services": [service]}))
            argv = [PY, "-m", "crosscloud.cli.main", "gateway", "--config", str(conf)]
            procs.append(subprocess.Popen(argv, stderr=subprocess.DEVNULL))
            wait(f"http://127.0.0.1:{port}/healthz", procs[-1])
            gateways[policy] = f"http://127.0.0.1:{port}"
        rows: dict[str, list[dict[str, float]]] = {p: [] for p in gateways}
        for r in range(args.rounds):
            order = list(gateways) if r % 2 == 0 else list(reversed(gateways))
            for policy in order:
                rows[policy].append(
                    run(gateways[policy], ports, seed=r * 10 + len(rows[policy]), args=args)
                )
                print(policy, {k: round(v, 3) for k, v in rows[policy][-1].items()}, flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    med = {p: {k: statistics.median(x[k] for x in v) for k in v[0]} for p, v in rows.items()}
    print(f"tiny-gpt, {args.replicas} replicas, {args.rounds} rounds (medians)")
    for policy, m in med.items():
        times = f"TTFT p50 {m['p50'] * 1000:7.0f} ms  p90 {m['p90'] * 1000:7.0f} ms"
        print(f"{policy:>16}: {times}  hit rate {m['hit_rate']:.2f}")
    lr, pa = med["least-request"], med["prefix-affinity"]
    print(f"least-request / prefix-affinity TTFT p50: {lr['p50'] / pa['p50']:.2f}x")
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "tiny_gpt_routing.json").write_text(json.dumps(med, indent=2))


if __name__ == "__main__":
    main()
