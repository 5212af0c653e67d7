"""HTTPS at the front door (issue 12): crosscloud's gateway beside nginx, both terminating
TLS with the same certificate (EC P-256, made here with openssl), in front of the same two
1-worker uvicorn backends (plain HTTP behind), driven by wrk over keep-alive connections.

Interleaved rounds (the order rotates each round), medians: req/s at 32 keep-alive
connections, p50 at 1 connection, proxy CPU per request (utime + stime from /proc). The
plain-HTTP figures of both proxies are taken in the same rounds, so the cost of TLS is
shown beside the ratio to nginx. Goal: at least 0.8x nginx's HTTPS req/s with keep-alive.

    bash bench/run.sh gateway tls [--rounds 5] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import gateway as bench  # noqa: E402 - the plain-HTTP benchmark's helpers

GOAL = 0.8
OPENSSL_REQ = [
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
]
OPENSSL_REQ += ["-nodes", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
OPENSSL_REQ += ["-days", "1"]


def make_certificate(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "front.pem", tmp / "front-key.pem"
    subprocess.run(
        [*OPENSSL_REQ, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def nginx_tls_conf(
    tmp: Path, ports: tuple[int, int], backends: list[int], pem: tuple[Path, Path]
) -> Path:
    """nginx as the plain benchmark runs it, plus an HTTPS server with a session cache and
    tickets (what a tuned nginx front door has)."""
    conf = bench.nginx_conf(tmp, ports[0], backends)
    text = conf.read_text()
    https = f"""  server {{
    listen 127.0.0.1:{ports[1]} ssl;
    ssl_certificate {pem[0]};
    ssl_certificate_key {pem[1]};
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    location /svc/ {{
      proxy_pass http://backends/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""
    conf.write_text(text[: text.rstrip().rfind("}")] + https)
    return conf


def gateway_tls_conf(
    tmp: Path, port: int, backends: list[int], pem: tuple[Path, Path], *, tls: bool
) -> Path:
    conf = bench.gateway_conf(tmp, port, backends, "round-robin")
    data = json.loads(conf.read_text())
    if tls:
        data["listen"]["tls"] = {"certFile": str(pem[0]), "keyFile": str(pem[1])}
    out = tmp / f"gateway-{'tls' if tls else 'plain'}-{port}.json"
    out.write_text(json.dumps(data))
    return out


def start(procs: bench.Procs, tmp: Path) -> dict[str, tuple[int, str]]:
    """Backends, nginx (HTTP and HTTPS servers in one process) and two gateways (plain
    and TLS): each path's proxy pid and URL."""
    pem = make_certificate(tmp)
    backends = [bench.free_port(), bench.free_port()]
    for i, port in enumerate(backends):
        argv = [str(bench.PY), "-m", "uvicorn", "--app-dir", str(HERE), "app:app"]
        argv += ["--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools"]
        argv += ["--no-access-log", "--log-level", "warning"]
        bench.wait_http(f"http://127.0.0.1:{port}/", procs.start(argv, f"backend{i}"))
    nginx_ports = (bench.free_port(), bench.free_port())
    conf = nginx_tls_conf(tmp, nginx_ports, backends, pem)
    nginx = procs.start(["nginx", "-c", str(conf), "-p", str(tmp)], "nginx")
    out = {
        "nginx http": (nginx.pid, f"http://127.0.0.1:{nginx_ports[0]}/svc/"),
        "nginx https": (nginx.pid, f"https://127.0.0.1:{nginx_ports[1]}/svc/"),
    }
    for tls in (False, True):
        port = bench.free_port()
        config = gateway_tls_conf(tmp, port, backends, pem, tls=tls)
        argv = [str(bench.PY), "-m", "crosscloud.cli.main", "gateway", "--config", str(config)]
        name = "crosscloud https" if tls else "crosscloud http"
        proc = procs.start(argv, name.replace(" ", "-"))
        out[name] = (proc.pid, f"{'https' if tls else 'http'}://127.0.0.1:{port}/svc/")
    for name, (_, url) in out.items():
        bench.wait_http(url, next(p for p in procs.procs if p.pid == out[name][0]), verify=False)
    return out


def one_round(
    paths: dict[str, tuple[int, str]], order: list[str], seconds: float
) -> dict[str, dict[str, float]]:
    results = {}
    for name in order:
        pid, url = paths[name]
        results[name] = bench.measure(pid, url, seconds)
    return results


def report(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    names = list(rounds[0])
    med = {n: {k: statistics.median(r[n][k] for r in rounds) for k in rounds[0][n]} for n in names}
    for n in names:
        med[n]["failed"] = sum(r[n]["failed"] for r in rounds)
    print(f"\n{'path':<18}{'req/s c32':>11}{'p50 c1 ms':>11}{'CPU/req us':>12}{'failed':>8}")
    for n in sorted(names):
        m = med[n]
        print(
            f"{n:<18}{m['rps']:>11.0f}{m['p50_ms']:>11.3f}{m['cpu_us']:>12.1f}{m['failed']:>8.0f}"
        )
    cc, ng = med["crosscloud https"], med["nginx https"]
    ratio = cc["rps"] / ng["rps"]
    print(
        f"\nHTTPS, 32 keep-alive connections: crosscloud {ratio:.2f}x nginx's req/s,"
        f" {cc['cpu_us'] / ng['cpu_us']:.2f}x its CPU per request,"
        f" p50 at 1 connection {cc['p50_ms'] - ng['p50_ms']:+.3f} ms over nginx's"
    )
    for who in ("crosscloud", "nginx"):
        plain, tls = med[f"{who} http"], med[f"{who} https"]
        print(
            f"TLS costs {who}: {tls['rps'] / plain['rps']:.2f}x its plain req/s,"
            f" {tls['cpu_us'] / plain['cpu_us']:.2f}x its plain CPU per request"
        )
    print(f"\n  [{'ok' if ratio >= GOAL else 'MISS'}] HTTPS req/s >= {GOAL}x nginx's (keep-alive)")
    print(f"  [{'ok' if cc['failed'] == 0 else 'MISS'}] no failed requests")
    return med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmpdir:
        procs = bench.Procs(Path(tmpdir))
        try:
            paths = start(procs, Path(tmpdir))
            order = list(paths)
            rounds = []
            for r in range(args.rounds):
                rotated = order[r % len(order) :] + order[: r % len(order)]
                rounds.append(one_round(paths, rotated, args.seconds))
                shown = ", ".join(f"{n} {v['rps']:.0f}/s" for n, v in rounds[-1].items())
                print(f"round {r + 1}: {shown}", flush=True)
            med = report(rounds)
        finally:
            procs.stop()
    out = bench.ROOT / "bench" / "results" / "gateway-tls.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "medians": med, "rounds": rounds}, indent=1))
    print(f"\nwrote {out.relative_to(bench.ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
