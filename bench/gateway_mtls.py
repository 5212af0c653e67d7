"""The gateway's cost of mutual TLS to its replicas (issue 12): the same gateway in front
of the same two 1-worker uvicorn backends, once in plaintext and once with mutual TLS
(certificates from crosscloud's CA; the backends require a client certificate, the gateway
checks each backend's URI SAN), with keep-alive upstream connections in both.

Interleaved rounds (the order alternates), medians: gateway CPU per request (utime +
stime from /proc, during a 32-connection wrk run) and p50 at 1 connection. Goals: CPU per
request at most 1.3x plaintext's, and p50 at most 0.1 ms above plaintext's.

    bash bench/run.sh gateway_mtls [--rounds 5] [--seconds 5]
    bash bench/run.sh gateway_mtls --baseline-src ../main/src  # + `mtls-base`: another
                                                               # checkout's gateway
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "gateway"))
sys.path.insert(0, str(HERE.parent / "src"))

import gateway as gwbench  # noqa: E402  (bench/gateway/gateway.py: its helpers)

from crosscloud.adapters.security import ca as camod  # noqa: E402
from crosscloud.adapters.security import files  # noqa: E402
from crosscloud.domain import identity  # noqa: E402

GOALS = {"cpu_ratio": 1.3, "added_p50_ms": 0.1}
SERVICE_ID = identity.workload(identity.DEFAULT_TRUST_DOMAIN, "bench", "svc")


def _pki(tmp: Path) -> dict[str, Path]:
    now = time.time()
    authority = camod.Authority.open(tmp / "ca", now=now)
    out = {"bundle": tmp / "bundle.pem"}
    files.write_private(out["bundle"], authority.bundle_pem(now=now))
    for name, uri in (("backend", SERVICE_ID), ("gateway", identity.gateway("crosscloud.local"))):
        out[name] = tmp / f"{name}.pem"
        files.write_private(out[name], authority.issue(uri, now=now).pem)
    return out


def _backend(procs: gwbench.Procs, port: int, name: str, tls: dict[str, Path] | None) -> None:
    argv = [str(gwbench.PY), "-m", "uvicorn", "--app-dir", str(HERE / "gateway"), "app:app"]
    argv += ["--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools"]
    argv += ["--no-access-log", "--log-level", "warning"]
    if tls is not None:
        argv += ["--ssl-certfile", str(tls["backend"]), "--ssl-ca-certs", str(tls["bundle"])]
        argv += ["--ssl-cert-reqs", "2"]  # ssl.CERT_REQUIRED: a client certificate or nothing
    procs.start(argv, name)


def _gateway(
    procs: gwbench.Procs,
    tmp: Path,
    backends: list[int],
    tls: dict[str, Path] | None,
    baseline: str | None = None,
) -> tuple[int, str]:
    port = gwbench.free_port()
    ups = [{"id": f"b{i}", "port": p, "placement": f"local/r{i}"} for i, p in enumerate(backends)]
    service: dict[str, object] = {
        "name": "svc",
        "policy": "round-robin",
        "upstreams": ups,
        "healthCheck": {"interval": "1s"},
    }
    config: dict[str, object] = {"listen": {"port": port}, "services": [service]}
    name = ("plain" if tls is None else "mtls") + ("-base" if baseline else "")
    if tls is not None:
        service["identity"] = SERVICE_ID
        config["upstreamTls"] = {"cert": str(tls["gateway"]), "ca": str(tls["bundle"])}
    path = tmp / f"gateway-{name}.json"
    path.write_text(json.dumps(config))
    argv = [str(gwbench.PY), "-m", "crosscloud.cli.main", "gateway", "--config", str(path)]
    env = {"PYTHONPATH": baseline} if baseline else None
    proc = procs.start(argv, f"gateway-{name}", env=env)
    url = f"http://127.0.0.1:{port}/svc/"
    gwbench.wait_http(url, proc)
    return proc.pid, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--baseline-src", help="also run mTLS with this src dir's gateway")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mtls-") as tmpdir:
        tmp = Path(tmpdir)
        procs = gwbench.Procs(tmp)
        try:
            tls = _pki(tmp)
            plain_ports = [gwbench.free_port(), gwbench.free_port()]
            tls_ports = [gwbench.free_port(), gwbench.free_port()]
            for i, port in enumerate(plain_ports):
                _backend(procs, port, f"plain{i}", None)
            for i, port in enumerate(tls_ports):
                _backend(procs, port, f"tls{i}", tls)
            for port in plain_ports:
                gwbench.wait_http(f"http://127.0.0.1:{port}/", procs.procs[0])
            gateways = {
                "plain": _gateway(procs, tmp, plain_ports, None),
                "mtls": _gateway(procs, tmp, tls_ports, tls),
            }
            if args.baseline_src:
                base = _gateway(procs, tmp, tls_ports, tls, args.baseline_src)
                gateways["mtls-base"] = base
            names = list(gateways)
            rounds = []
            for r in range(args.rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                found = {name: gwbench.measure(*gateways[name], args.seconds) for name in order}
                rounds.append(found)
                print(
                    f"round {r + 1}: "
                    + ", ".join(
                        f"{n} {v['rps']:.0f}/s {v['cpu_us']:.1f} us/req p50 {v['p50_ms']:.3f} ms"
                        for n, v in found.items()
                    ),
                    flush=True,
                )
        finally:
            procs.stop()
    med = {
        n: {k: statistics.median(r[n][k] for r in rounds) for k in rounds[0][n]} for n in rounds[0]
    }
    ratio = med["mtls"]["cpu_us"] / med["plain"]["cpu_us"]
    added = med["mtls"]["p50_ms"] - med["plain"]["p50_ms"]
    print(f"\n{'gateway':<8}{'req/s c32':>11}{'CPU/req us':>12}{'p50 c1 ms':>11}{'failed':>8}")
    for n, m in med.items():
        failed = sum(r[n]["failed"] for r in rounds)
        print(f"{n:<8}{m['rps']:>11.0f}{m['cpu_us']:>12.1f}{m['p50_ms']:>11.3f}{failed:>8.0f}")
    print(f"\nmTLS / plaintext CPU per request: {ratio:.2f}x; p50 added by mTLS: {added:+.3f} ms")
    if "mtls-base" in med:
        base = med["mtls-base"]["cpu_us"] / med["plain"]["cpu_us"]
        print(f"baseline gateway's mTLS / plaintext CPU per request: {base:.2f}x")
    print(f"  [{'ok' if ratio <= GOALS['cpu_ratio'] else 'MISS'}] CPU/request <= 1.3x plaintext")
    print(f"  [{'ok' if added <= GOALS['added_p50_ms'] else 'MISS'}] p50 <= plaintext + 0.1 ms")
    out = HERE / "results" / "gateway_mtls.json"
    out.parent.mkdir(exist_ok=True)
    summary = {"cpu_ratio": ratio, "added_p50_ms": added}
    out.write_text(json.dumps({"args": vars(args), "medians": med, **summary}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
