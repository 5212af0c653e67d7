"""Gateway benchmark (issue 5): direct vs nginx vs an aiohttp pooled proxy vs crosscloud's
gateway, in front of the same two 1-worker uvicorn backends, with wrk.

Interleaved rounds (the contender order rotates each round), medians over rounds:
req/s at 32 keep-alive connections, p50 at 1 connection (and what each proxy adds over
direct), and proxy CPU per request (utime + stime from /proc, proxy process tree, during
the 32-connection run). A second mode in the same rounds: clients that close every
connection (`wrk -c32 -H 'Connection: close'`, and `ab -c32` without -k), answered (2xx)
req/s. Ratios are against nginx (1 worker, keep-alive upstreams, round robin). The
crosscloud gateway runs as one process with routing, retries, active health checks,
outlier detection and metrics on.

    bash bench/run.sh gateway [--rounds 5] [--seconds 5] [--policy round-robin]
    bash bench/run.sh gateway --baseline-src ../main/src   # + `cc-base`: another checkout's
                                                           # gateway, for before/after
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
PY = ROOT / ".venv" / "bin" / "python"
AIOHTTP_PY = ROOT / "bench" / ".venvs" / "aiohttp" / "bin" / "python"
TICK = os.sysconf("SC_CLK_TCK")
NAN = float("nan")
GOALS = {
    "rps_vs_nginx": 0.8,
    "cpu_vs_nginx": 1.5,
    "added_p50_over_nginx_ms": 0.05,
    "closing_rps_vs_nginx": 0.8,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(raw[raw.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], []))
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for each in tree(pid):
        try:
            raw = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def wait_http(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 30, *, verify: bool = True
) -> None:
    """Until `url` answers below 500 (`verify=False`: an HTTPS URL with a self-made
    certificate); exits if `proc` dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1, verify=verify).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not up after {timeout}s")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    close: bool = False,
    headers: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> dict[str, float]:
    """One wrk run; `close`: every request asks for `Connection: close` (a new
    connection each); `headers` go with every request; `extra`: more wrk options (a
    script). `ok_rps` counts 2xx answers only."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", *extra, url]
    if close:
        argv[1:1] = ["-H", "Connection: close"]
    for header in headers:
        argv[1:1] = ["-H", header]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)$", out, re.MULTILINE)
    requests = re.search(r"(\d+) requests in ([\d.]+)(ms|s)", out)
    if p50 is None or requests is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    failed = bad + (sum(int(g) for g in errors.groups()) if errors else 0)
    secs = float(requests.group(2)) * (1e-3 if requests.group(3) == "ms" else 1.0)
    n = int(requests.group(1))
    return {
        "requests": n,
        "rps": n / secs,
        "ok_rps": (n - bad) / secs,
        "p50_ms": float(p50.group(1)) * _UNITS[p50.group(2)],
        "failed": failed,
    }


def ab(url: str, *, connections: int, seconds: float) -> dict[str, float]:
    """ApacheBench without -k (HTTP/1.0, a new connection per request) for `seconds`;
    -r keeps it going past broken connections so they are counted, not fatal."""
    argv = ["ab", "-q", "-r", "-s", "5", "-c", str(connections), "-t", f"{seconds:g}"]
    argv += ["-n", "10000000", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout

    def number(pattern: str) -> float:
        found = re.search(pattern, out)
        return float(found.group(1)) if found else 0.0

    secs = number(r"Time taken for tests:\s+([\d.]+)")
    if secs <= 0:
        raise RuntimeError(f"cannot read ab output:\n{out}")
    done = number(r"Complete requests:\s+(\d+)")
    failed = number(r"Failed requests:\s+(\d+)") + number(r"Non-2xx responses:\s+(\d+)")
    return {"ok_rps": (done - failed) / secs, "failed": failed}


def measure(pid: int, url: str, seconds: float) -> dict[str, float]:
    """One path's keep-alive figures: req/s at 32 connections and the proxy's (`pid`) CPU
    per request over that run, then p50 at 1 connection."""
    before = cpu_seconds(pid)
    heavy = wrk(url, connections=32, seconds=seconds)
    cpu = cpu_seconds(pid) - before
    light = wrk(url, connections=1, seconds=seconds)
    return {
        "rps": heavy["rps"],
        "p50_ms": light["p50_ms"],
        "cpu_us": cpu / heavy["requests"] * 1e6,
        "failed": heavy["failed"] + light["failed"],
    }


def closing(url: str, seconds: float) -> dict[str, float]:
    """The closing-clients mode: wrk with `Connection: close`, then ab without -k."""
    by_wrk = wrk(url, connections=32, seconds=seconds, close=True)
    by_ab = ab(url, connections=32, seconds=seconds)
    return {
        "close_wrk_rps": by_wrk["ok_rps"],
        "close_ab_rps": by_ab["ok_rps"],
        "close_failed": by_wrk["failed"] + by_ab["failed"],
    }


def export_src(rev: str, into: Path) -> Path:
    """`src/` as it was at git revision `rev`, unpacked under `into`: the A/B benches run the
    gateway of that revision beside this tree's."""
    archive = subprocess.run(
        ["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


class Procs:
    """Processes this benchmark started (stopped by pid at the end)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.procs = tmp, []

    def start(
        self, argv: list[str], name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})}
        )
        self.procs.append(proc)
        return proc

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


def nginx_conf(tmp: Path, port: int, backends: list[int]) -> Path:
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in backends)
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream backends {{
{servers}    keepalive 128;
  }}
  server {{
    listen 127.0.0.1:{port};
    location /svc/ {{
      proxy_pass http://backends/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""
    )
    return conf


def gateway_conf(tmp: Path, port: int, backends: list[int], policy: str) -> Path:
    ups = [{"id": f"b{i}", "port": p, "placement": f"local/r{i}"} for i, p in enumerate(backends)]
    tmp.mkdir(exist_ok=True)
    conf = tmp / "gateway.json"
    conf.write_text(
        json.dumps(
            {
                "listen": {"port": port},
                "services": [
                    {
                        "name": "svc",
                        "policy": policy,
                        "upstreams": ups,
                        "healthCheck": {"interval": "1s"},
                    }
                ],
            }
        )
    )
    return conf


def start_all(
    procs: Procs, tmp: Path, policy: str, baseline: str | None = None
) -> tuple[list[int], dict[str, tuple[int, str]]]:
    backends = [free_port(), free_port()]
    for i, port in enumerate(backends):
        argv = [
            str(PY),
            "-m",
            "uvicorn",
            "--app-dir",
            str(HERE),
            "app:app",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        wait_http(f"http://127.0.0.1:{port}/", procs.start(argv, f"backend{i}"))
    ports = {name: free_port() for name in ("nginx", "aiohttp", "crosscloud", "cc-base")}
    started = {
        "nginx": procs.start(
            ["nginx", "-c", str(nginx_conf(tmp, ports["nginx"], backends)), "-p", str(tmp)], "nginx"
        ),
        "aiohttp": procs.start(
            [
                str(AIOHTTP_PY),
                str(HERE / "aiohttp_proxy.py"),
                str(ports["aiohttp"]),
                *map(str, backends),
            ],
            "aiohttp",
        ),
        "crosscloud": procs.start(
            [
                str(PY),
                "-m",
                "crosscloud.cli.main",
                "gateway",
                "--config",
                str(gateway_conf(tmp, ports["crosscloud"], backends, policy)),
            ],
            "crosscloud",
        ),
    }
    if baseline:
        conf = gateway_conf(tmp / "base", ports["cc-base"], backends, policy)
        argv = [str(PY), "-m", "crosscloud.cli.main", "gateway", "--config", str(conf)]
        started["cc-base"] = procs.start(argv, "cc-base", env={"PYTHONPATH": baseline})
    out = {}
    for name, proc in started.items():
        prefix = "" if name == "aiohttp" else "svc/"
        url = f"http://127.0.0.1:{ports[name]}/{prefix}"
        wait_http(url, proc)
        out[name] = (proc.pid, url)
    return backends, out


def one_round(
    backends: list[int], proxies: dict[str, tuple[int, str]], order: list[str], seconds: float
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for name in order:
        if name == "direct":  # both backends at once, 16 connections each
            runs = [
                subprocess.Popen(
                    [
                        "wrk",
                        "-t1",
                        "-c16",
                        f"-d{seconds:g}s",
                        "--latency",
                        f"http://127.0.0.1:{p}/",
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for p in backends
            ]
            outs = [r.communicate()[0] for r in runs]
            rps = sum(float(re.search(r"Requests/sec:\s+([\d.]+)", o).group(1)) for o in outs)  # type: ignore[union-attr]
            single = wrk(f"http://127.0.0.1:{backends[0]}/", connections=1, seconds=seconds)
            results[name] = {"rps": rps, "p50_ms": single["p50_ms"], "cpu_us": 0.0, "failed": 0}
            results[name] |= {"close_wrk_rps": NAN, "close_ab_rps": NAN, "close_failed": 0}
            continue
        pid, url = proxies[name]
        results[name] = measure(pid, url, seconds) | closing(url, seconds)
    return results


def report(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    names = list(rounds[0])
    med = {n: {k: statistics.median(r[n][k] for r in rounds) for k in rounds[0][n]} for n in names}
    for n in names:
        med[n]["added_p50_ms"] = med[n]["p50_ms"] - med["direct"]["p50_ms"]
        med[n]["failed"] = sum(r[n]["failed"] for r in rounds)
        med[n]["close_failed"] = sum(r[n]["close_failed"] for r in rounds)
    print(
        f"\n{'path':<12}{'req/s c32':>11}{'x nginx':>9}{'p50 c1 ms':>11}{'added ms':>10}"
        f"{'CPU/req us':>12}{'x nginx':>9}{'failed':>8}"
    )
    ng = med["nginx"]
    for n in names:
        m = med[n]
        cpu_ratio = m["cpu_us"] / ng["cpu_us"] if n != "direct" else float("nan")
        print(
            f"{n:<12}{m['rps']:>11.0f}{m['rps'] / ng['rps']:>9.2f}{m['p50_ms']:>11.3f}"
            f"{m['added_p50_ms']:>10.3f}{m['cpu_us']:>12.1f}{cpu_ratio:>9.2f}{m['failed']:>8.0f}"
        )
    _report_closing(med, names)
    cc = med["crosscloud"]
    checks = {
        "req/s >= 0.8x nginx at 32 connections": cc["rps"] / ng["rps"] >= GOALS["rps_vs_nginx"],
        "CPU/request <= 1.5x nginx's": cc["cpu_us"] / ng["cpu_us"] <= GOALS["cpu_vs_nginx"],
        "added p50 at 1 connection within 0.05 ms of nginx's": cc["added_p50_ms"]
        - ng["added_p50_ms"]
        <= GOALS["added_p50_over_nginx_ms"],
        "no failed requests": cc["failed"] == 0,
        "req/s >= 0.8x nginx for clients that close (wrk -H 'Connection: close')": (
            cc["close_wrk_rps"] / ng["close_wrk_rps"] >= GOALS["closing_rps_vs_nginx"]
        ),
        "req/s >= 0.8x nginx for clients that close (ab without -k)": (
            cc["close_ab_rps"] / ng["close_ab_rps"] >= GOALS["closing_rps_vs_nginx"]
        ),
        "no failed requests from clients that close": cc["close_failed"] == 0,
    }
    print()
    for text, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISS'}] {text}")
    return med


def _report_closing(med: dict[str, dict[str, float]], names: list[str]) -> None:
    """The second mode's table: 32 clients that close every connection, 2xx req/s."""
    print(
        f"\nclients that close every connection (32 at a time; answered 2xx per second)"
        f"\n{'path':<12}{'wrk close':>11}{'x nginx':>9}{'ab':>11}{'x nginx':>9}{'failed':>8}"
    )
    ng = med["nginx"]
    for n in names:
        if n == "direct":
            continue
        m = med[n]
        print(
            f"{n:<12}{m['close_wrk_rps']:>11.0f}{m['close_wrk_rps'] / ng['close_wrk_rps']:>9.2f}"
            f"{m['close_ab_rps']:>11.0f}{m['close_ab_rps'] / ng['close_ab_rps']:>9.2f}"
            f"{m['close_failed']:>8.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument(
        "--policy", default="round-robin", choices=["round-robin", "least-request", "latency"]
    )
    parser.add_argument(
        "--baseline-src",
        help="also run the gateway of another checkout's src/ (PYTHONPATH) as `cc-base`",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmpdir:
        procs = Procs(Path(tmpdir))
        try:
            baseline = str(Path(args.baseline_src).resolve()) if args.baseline_src else None
            backends, proxies = start_all(procs, Path(tmpdir), args.policy, baseline)
            order = ["direct", "nginx", "aiohttp", "crosscloud"] + (["cc-base"] if baseline else [])
            rounds = []
            for r in range(args.rounds):
                rotated = order[r % len(order) :] + order[: r % len(order)]
                rounds.append(one_round(backends, proxies, rotated, args.seconds))
                print(
                    f"round {r + 1}: "
                    + ", ".join(
                        f"{n} {v['rps']:.0f}/s (closing: wrk {v['close_wrk_rps']:.0f}/s,"
                        f" ab {v['close_ab_rps']:.0f}/s)"
                        for n, v in rounds[-1].items()
                    ),
                    flush=True,
                )
            med = report(rounds)
            if baseline:
                cc, base = med["crosscloud"], med["cc-base"]
                print(
                    f"\ncrosscloud vs cc-base ({baseline}): req/s {cc['rps'] / base['rps']:.2f}x,"
                    f" CPU/request {cc['cpu_us'] / base['cpu_us']:.2f}x,"
                    f" p50 at 1 connection {cc['p50_ms'] - base['p50_ms']:+.3f} ms"
                )
        finally:
            procs.stop()
    out = ROOT / "bench" / "results" / "gateway.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "medians": med, "rounds": rounds}, indent=1))
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
