"""The trivial JSON handler served by every contender: interleaved wrk rounds, with the
server's CPU per request read from /proc around each run."""

from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path
from typing import Any

import procstat
import servers
import wrk

CONNECTIONS = (32, 1)


def measure(
    server: servers.Server,
    *,
    connections: int,
    seconds: float,
    path: str = "/echo",
    body: str | None = None,
) -> dict[str, float]:
    """One wrk run against server, with the CPU the server's process tree spent on it."""
    before = procstat.cpu_seconds(server.pid)
    load = wrk.run(server.url(path), connections=connections, seconds=seconds, body=body)
    cpu = procstat.cpu_seconds(server.pid) - before
    if load.errors:
        print(f"  ! {server.spec.name}: {load.errors} errors in {load.requests} requests")
    return {
        "rps": load.rps,
        "p50_us": load.p50_us,
        "p99_us": load.p99_us,
        "cpu_us_per_req": cpu / load.requests * 1e6 if load.requests else float("nan"),
        "errors": load.errors,
    }


def run(
    *, names: list[str], rounds: int, seconds: float, log_dir: Path
) -> dict[str, dict[str, Any]]:
    """Start the named contenders, then rounds of A B C D E at each connection count."""
    specs = [s for s in servers.contenders() if s.name in names]
    samples: dict[str, dict[int, list[dict[str, float]]]] = {
        s.name: {c: [] for c in CONNECTIONS} for s in specs
    }
    rss: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        started = []
        for spec in specs:
            server = stack.enter_context(servers.Server(spec, log=log_dir / f"{spec.name}.log"))
            server.wait_ok("/echo", servers.ECHO_BODY)
            wrk.run(server.url("/echo"), connections=32, seconds=1)  # warm up
            started.append(server)
            print(f"  {spec.name} up (pid {server.pid})", flush=True)
        for number in range(1, rounds + 1):
            for connections in CONNECTIONS:
                for server in started:
                    result = measure(server, connections=connections, seconds=seconds)
                    samples[server.spec.name][connections].append(result)
                    time.sleep(0.2)
            print(f"  round {number}/{rounds} done", flush=True)
        for server in started:
            rss[server.spec.name] = procstat.rss_bytes(server.pid)
    return {
        name: {
            "rss_mb": rss[name] / 2**20,
            **{f"c{c}": _medians(runs) for c, runs in by_conn.items()},
            "samples": {f"c{c}": runs for c, runs in by_conn.items()},
        }
        for name, by_conn in samples.items()
    }


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}
