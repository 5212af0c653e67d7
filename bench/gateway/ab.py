"""A/B of the gateway's own CPU: the working tree against an older commit, in one run.

Both gateways run side by side in front of the same two backends (see gateway.py); wrk
-c32 runs alternate between them (the order flips every pair), and each run's user and
system CPU per request come from /proc. Paired ratios (new/base) cancel most of the
neighbour load that makes separate runs on a shared machine incomparable.

    .venv/bin/python bench/gateway/ab.py --base HEAD~1 [--pairs 12] [--seconds 3] [--token]

`--token`: the service needs an API token (with a quota no run reaches) and wrk sends one,
so the token check, its quota and its per-token counters are on the measured path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import gateway as bench

from crosscloud.domain import tokens

#: (token id, the token) for --token runs; the gateways hold only its hash
TOKEN = tokens.new_token(os.urandom(tokens.ID_BYTES), os.urandom(tokens.SECRET_BYTES))


def cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of one process."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) / bench.TICK, int(fields[12]) / bench.TICK


def start(
    procs: bench.Procs, tmp: Path, backends: list[int], src: str, *, token: bool
) -> tuple[int, str]:
    """A gateway importing crosscloud from `src` (this tree's, or the base's archive)."""
    name = "new" if src == str(bench.ROOT / "src") else "base"
    port = bench.free_port()
    conf = bench.gateway_conf(tmp, port, backends, "round-robin").rename(tmp / f"{name}.json")
    if token:
        config = json.loads(conf.read_text())
        digest = hashlib.sha256(TOKEN[1].encode()).hexdigest()
        entry = {"id": TOKEN[0], "sha256": digest, "quota": {"rps": 1e9, "concurrency": 10000}}
        config["services"][0]["auth"] = {"tokens": [entry]}
        conf.write_text(json.dumps(config))
    argv = ["env", f"PYTHONPATH={src}", str(bench.PY), "-m", "crosscloud.cli.main", "gateway"]
    proc = procs.start([*argv, "--config", str(conf)], name)
    url = f"http://127.0.0.1:{port}/svc/"
    bench.wait_http(url, proc)
    return proc.pid, url


def measure(pid: int, url: str, seconds: float, token: bool) -> tuple[float, float, float]:
    """(user us/request, system us/request, req/s) of one wrk -c32 run."""
    headers = (f"Authorization: Bearer {TOKEN[1]}",) if token else ()
    u0, s0 = cpu(pid)
    out = bench.wrk(url, connections=32, seconds=seconds, headers=headers)
    if out["failed"]:
        raise RuntimeError(f"{out['failed']} requests failed: {url}")
    u1, s1 = cpu(pid)
    n = out["requests"]
    return (u1 - u0) / n * 1e6, (s1 - s0) / n * 1e6, out["rps"]


def report(runs: dict[str, list[tuple[float, float, float]]]) -> None:
    base, new = runs["base"], runs["new"]
    rows = [("user us/req", 0), ("sys us/req", 1), ("req/s", 2)]
    for label, k in rows:
        ratio = statistics.median(n[k] / b[k] for b, n in zip(base, new, strict=True))
        mb, mn = statistics.median(x[k] for x in base), statistics.median(x[k] for x in new)
        print(f"{label:<13} base {mb:9.1f}  new {mn:9.1f}  paired new/base {ratio:.3f}")
    tb, tn = [x[0] + x[1] for x in base], [x[0] + x[1] for x in new]
    ratio = statistics.median(n / b for b, n in zip(tb, tn, strict=True))
    mb, mn = statistics.median(tb), statistics.median(tn)
    print(f"{'CPU us/req':<13} base {mb:9.1f}  new {mn:9.1f}  paired new/base {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--token", action="store_true", help="requests with an API token")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-ab-") as tmpdir:
        tmp = Path(tmpdir)
        bench.export_src(args.base, tmp)
        procs = bench.Procs(tmp)
        try:
            backends = _backends(procs)
            gws = {
                "base": start(procs, tmp, backends, str(tmp / "src"), token=args.token),
                # this tree
                "new": start(procs, tmp, backends, str(bench.ROOT / "src"), token=args.token),
            }
            runs: dict[str, list[tuple[float, float, float]]] = {"base": [], "new": []}
            for i in range(args.pairs):
                for name in ("base", "new") if i % 2 == 0 else ("new", "base"):
                    runs[name].append(measure(*gws[name], args.seconds, args.token))
                b, n = runs["base"][-1], runs["new"][-1]
                print(f"pair {i + 1}: user/sys us base {b[0]:.1f}/{b[1]:.1f}", end="")
                print(f", new {n[0]:.1f}/{n[1]:.1f}", flush=True)
        finally:
            procs.stop()
    report(runs)


def _backends(procs: bench.Procs) -> list[int]:
    ports = [bench.free_port(), bench.free_port()]
    for i, port in enumerate(ports):
        argv = [str(bench.PY), "-m", "uvicorn", "--app-dir", str(bench.HERE), "app:app"]
        argv += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
        argv += ["--no-access-log", "--log-level", "warning"]
        bench.wait_http(f"http://127.0.0.1:{port}/", procs.start(argv, f"backend{i}"))
    return ports


if __name__ == "__main__":
    sys.exit(main())
