"""What a region's link relay costs: `bash bench/run.sh relay [--rounds 3 --seconds 5]`.

One isolated region (a network namespace behind a veth pair, adapters/local/links.py) runs
the echo replica (`python -m crosscloud.runtime examples/echo/service.py:Echo`) on its own
address. wrk (POST, keep-alive, bench/runtime/post.lua) reaches it directly across the veth
and through the region's relay with no added latency, in interleaved rounds at 32 and 1
connections; then through the relay at +80 ms +- 5 ms. Reported (medians over rounds):
req/s, p50, the relay's CPU per request (utime + stime from /proc), and at +80 ms the p50
and p99 round trip against what was asked. Needs root and `ip`, and wrk.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench" / "runtime")]

import procstat  # noqa: E402  (bench/runtime)
import wrk  # noqa: E402

from crosscloud.adapters.local import links, netns  # noqa: E402
from crosscloud.domain import regionnet  # noqa: E402

PORT = 8100
ECHO = f"{ROOT / 'examples' / 'echo' / 'service.py'}:Echo"


def _wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} never became ready")


def _measure(url: str, relay: int | None, *, connections: int, seconds: float) -> dict[str, float]:
    cpu = procstat.cpu_seconds(relay, tree=False) if relay else 0.0
    load = wrk.run(f"{url}/echo", connections=connections, seconds=seconds)
    used = procstat.cpu_seconds(relay, tree=False) - cpu if relay else 0.0
    return {
        "rps": load.rps,
        "p50_ms": load.p50_us / 1000,
        "p99_ms": load.p99_us / 1000,
        "errors": load.errors,
        "relay_cpu_us": used / max(load.requests, 1) * 1e6,
    }


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if netns.unavailable() is not None:
        raise SystemExit(f"needs root and ip: {netns.unavailable()}")
    home = Path(tempfile.mkdtemp(prefix="cc-bench-relay-"))
    region = links.Links(home=home)
    want = links.Wanted("bench", "local/relay", (PORT,), (), regionnet.LinkProfile())
    net = region.ensure(want)
    replica = subprocess.Popen(
        [*netns.exec_prefix(net.netns), sys.executable, "-m", "crosscloud.runtime", ECHO,
         "--host", net.ns_addr, "--port", str(PORT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        return _bench(region, net, args.rounds, args.seconds)
    finally:
        replica.terminate()
        replica.wait(timeout=30)
        region.remove_all()


def _bench(region: links.Links, net: regionnet.RegionNet, rounds: int, seconds: float) -> int:
    direct, relayed = f"http://{net.ns_addr}:{PORT}", f"http://{net.host_addr}:{PORT}"
    _wait_ready(direct)
    _wait_ready(relayed)
    relay = region.relay_pid(net.netns)
    assert relay is not None
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(rounds):
        for connections in (32, 1):
            for name, url, pid in (("direct", direct, None), ("relay", relayed, relay)):
                key = f"{name} c{connections}"
                runs.setdefault(key, []).append(
                    _measure(url, pid, connections=connections, seconds=seconds)
                )
    region.set_chaos(net.netns, latency=0.080, jitter=0.005)
    region.apply_chaos(net.netns)
    time.sleep(0.5)
    for _ in range(rounds):
        runs.setdefault("relay +80ms c1", []).append(
            _measure(relayed, relay, connections=1, seconds=seconds)
        )
    table = {k: {f: _median(v, f) for f in v[0]} for k, v in runs.items()}
    print(f"{'run':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'relay CPU us/req':>17}")
    for name, row in table.items():
        print(
            f"{name:<16} {row['rps']:>9.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
            f" {row['relay_cpu_us']:>17.1f}"
        )
    ratio = table["relay c32"]["rps"] / table["direct c32"]["rps"]
    added = table["relay c1"]["p50_ms"] - table["direct c1"]["p50_ms"]
    slow = table["relay +80ms c1"]
    print(
        f"\nrelay at no added latency: {ratio:.2f}x direct req/s at 32 connections,"
        f" +{added:.3f} ms p50 at 1 connection,"
        f" {table['relay c32']['relay_cpu_us']:.1f} us of relay CPU per request"
    )
    print(
        f"relay at +80 ms +- 5 ms: p50 {slow['p50_ms']:.1f} ms, p99 {slow['p99_ms']:.1f} ms"
        f" (direct p50 {table['direct c1']['p50_ms']:.2f} ms)"
    )
    out = ROOT / "bench" / "results" / "relay.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rounds": rounds, "seconds": seconds, "table": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
