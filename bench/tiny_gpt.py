"""examples/llm's tiny-gpt served by `crosscloud serve`, measured with the `openai` client:
time to first token with a cold prompt and with its prefix cached (same system prompt,
another question), and decode tokens/s. Interleaved rounds, medians, ratios.

    bash bench/run.sh tiny_gpt [--rounds 5] [--sizes 2000,6000] [--tokens 64]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "crosscloud.cli.main", "serve"]
    command += [str(ROOT / "examples/llm/service.py"), "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("tiny-gpt did not become ready in 600 s")


def stream(oa: openai.OpenAI, system: str, question: str, tokens: int) -> dict[str, float]:
    started = time.perf_counter()
    first = last = None
    count = 0
    cached = 0
    chunks = oa.chat.completions.create(
        model="tiny-gpt",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
        max_tokens=tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter()
            first = first or now
            last = now
            count += 1
        if chunk.usage and chunk.usage.prompt_tokens_details:
            cached = chunk.usage.prompt_tokens_details.cached_tokens or 0
    if first is None or last is None:
        raise SystemExit("the stream had no content")
    return {
        "ttft": first - started,
        "tokens_per_s": (count - 1) / (last - first) if count > 1 else 0.0,
        "cached": cached,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="2000,6000", help="system prompt bytes (= tokens)")
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    port = free_port()
    proc = start(port)
    oa = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=300)
    rows: dict[int, dict[str, list[float]]] = {
        n: {"cold": [], "warm": [], "tps": []} for n in sizes
    }
    try:
        for _ in range(args.rounds):
            for n in sizes:
                system = (secrets.token_hex(8) + " You are a helpful assistant. " * 400)[:n]
                cold = stream(oa, system, "How do I deploy?", args.tokens)
                warm = stream(oa, system, "What does it cost?", args.tokens)
                if cold["cached"] >= 32 or warm["cached"] < n:  # the cache is not doing its job
                    raise SystemExit(f"unexpected cache use: cold {cold}, warm {warm}")
                rows[n]["cold"].append(cold["ttft"])
                rows[n]["warm"].append(warm["ttft"])
                rows[n]["tps"] += [cold["tokens_per_s"], warm["tokens_per_s"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    print(f"tiny-gpt ({args.rounds} rounds, {args.tokens} tokens, medians)")
    head = ("system prompt", "TTFT cold", "TTFT cached", "ratio", "decode tok/s")
    print("{:>14} {:>10} {:>12} {:>6} {:>13}".format(*head))
    result = {}
    for n in sizes:
        cold, warm = statistics.median(rows[n]["cold"]), statistics.median(rows[n]["warm"])
        tps = statistics.median(rows[n]["tps"])
        times = f"{cold * 1000:>8.0f} ms {warm * 1000:>9.0f} ms {cold / warm:>5.1f}x"
        print(f"{n:>8} tokens {times} {tps:>13.1f}")
        result[n] = {"ttft_cold_s": cold, "ttft_cached_s": warm, "decode_tokens_per_s": tps}
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "tiny_gpt.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
