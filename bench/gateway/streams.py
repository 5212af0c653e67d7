"""A/B of the gateway's CPU per streamed OpenAI answer: the working tree against an older
commit, in one run, with streams that do not ask for `usage` (which the working tree asks
the replica for and strips from what the client gets, see gateway/streamusage.py).

Both gateways run side by side in front of the same mock engine (`crosscloud.testing.
mock_llm`); runs of `--concurrency` streams of `--tokens` chunks alternate between them
(the order flips every pair), and each run's gateway CPU (user + system, from /proc) is
divided by the streams it carried. Paired ratios cancel most of the neighbours' load.

    .venv/bin/python bench/gateway/streams.py --base HEAD~1 [--pairs 8] [--seconds 3]

`--include-usage`: the clients ask for `usage` themselves (both trees count those streams
and pass the chunk on): the control for what asking and stripping costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ab
import gateway as bench
import httpx

MODEL = "bench-model"


def start_engine(procs: bench.Procs) -> int:
    port = bench.free_port()
    argv = [str(bench.PY), "-m", "crosscloud.testing.mock_llm", "--port", str(port)]
    argv += ["--model", MODEL, "--decode-rate", "5000", "--prefill-rate", "1e9"]
    argv += ["--max-seqs", "256"]
    bench.wait_http(f"http://127.0.0.1:{port}/v1/models", procs.start(argv, "engine"))
    return port


def start_gateway(
    procs: bench.Procs, tmp: Path, engine: int, src: str, name: str
) -> tuple[int, str]:
    port = bench.free_port()
    service = {
        "name": "chat",
        "models": [MODEL],
        "upstreams": [{"id": "e", "port": engine, "placement": "local/a"}],
    }
    conf = tmp / f"{name}.json"
    conf.write_text(json.dumps({"listen": {"port": port}, "services": [service]}))
    argv = ["env", f"PYTHONPATH={src}", str(bench.PY), "-m", "crosscloud.cli.main", "gateway"]
    proc = procs.start([*argv, "--config", str(conf)], name)
    url = f"http://127.0.0.1:{port}"
    bench.wait_http(f"{url}/v1/models", proc)
    return proc.pid, url


async def load(
    url: str, *, seconds: float, concurrency: int, tokens: int, usage: bool
) -> tuple[int, int]:
    """(streams, chunks) that `concurrency` clients read whole for `seconds`."""
    body: dict[str, object] = {"model": MODEL, "prompt": "hello " * 20, "max_tokens": tokens}
    body["stream"] = True
    if usage:
        body["stream_options"] = {"include_usage": True}
    done = [0, 0]
    end = time.monotonic() + seconds

    async def one(client: httpx.AsyncClient) -> None:
        while time.monotonic() < end:
            async with client.stream("POST", f"{url}/v1/completions", json=body) as answer:
                data = await answer.aread()
            if answer.status_code != 200 or (b'"usage"' in data) != usage:
                raise RuntimeError(f"{url}: {answer.status_code} {data[-300:]!r}")
            done[0] += 1
            done[1] += data.count(b"data: ") - 1  # [DONE] is no chunk

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) as client:
        await asyncio.gather(*(one(client) for _ in range(concurrency)))
    return done[0], done[1]


def measure(pid: int, url: str, args: argparse.Namespace) -> tuple[float, float]:
    """(gateway CPU us per stream, per chunk) of one run."""
    u0, s0 = ab.cpu(pid)
    streams, chunks = asyncio.run(
        load(
            url,
            seconds=args.seconds,
            concurrency=args.concurrency,
            tokens=args.tokens,
            usage=args.include_usage,
        )
    )
    u1, s1 = ab.cpu(pid)
    spent = (u1 - u0 + s1 - s0) * 1e6
    return spent / streams, spent / chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--include-usage", action="store_true", help="clients ask for usage")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-streams-") as tmpdir:
        tmp = Path(tmpdir)
        bench.export_src(args.base, tmp)
        procs = bench.Procs(tmp)
        try:
            engine = start_engine(procs)
            gws = {
                "base": start_gateway(procs, tmp, engine, str(tmp / "src"), "base"),
                "new": start_gateway(procs, tmp, engine, str(bench.ROOT / "src"), "new"),
            }
            runs: dict[str, list[tuple[float, float]]] = {"base": [], "new": []}
            for i in range(args.pairs):
                for name in ("base", "new") if i % 2 == 0 else ("new", "base"):
                    runs[name].append(measure(*gws[name], args))
                b, n = runs["base"][-1], runs["new"][-1]
                print(f"pair {i + 1}: CPU us/stream base {b[0]:.0f}, new {n[0]:.0f}", flush=True)
        finally:
            procs.stop()
    for label, k in (("CPU us/stream", 0), ("CPU us/chunk", 1)):
        base, new = runs["base"], runs["new"]
        ratio = statistics.median(n[k] / b[k] for b, n in zip(base, new, strict=True))
        mb, mn = statistics.median(x[k] for x in base), statistics.median(x[k] for x in new)
        print(f"{label:<14} base {mb:8.1f}  new {mn:8.1f}  paired new/base {ratio:.3f}")


if __name__ == "__main__":
    sys.exit(main())
