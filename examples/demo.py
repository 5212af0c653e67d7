"""`make demo`: the real embeddings model in three local regions behind the gateway.

Runs `crosscloud up examples/quickstart/crosscloud.yaml`, sends a burst of real requests
through the gateway, shows how the traffic spread over the regions, cuts region-b's link
mid-burst when the regions are network hosts of their own (as root), kills region-b's
replicas mid-burst, says how to stop, and ends with the dashboard's URL (`crosscloud
dashboard`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson

HERE = Path(__file__).resolve().parent
CROSSCLOUD = [sys.executable, "-m", "crosscloud.cli.main"]
BURST = 300
SENTENCES = [
    "crosscloud serves models wherever GPUs are",
    "a replica in region-b answers this one",
    "the gateway retries on another region when one fails",
    "embeddings are 384 floats from all-MiniLM-L6-v2",
]


def _crosscloud(*args: str, capture: bool = False) -> str:
    print(f"$ crosscloud {' '.join(args)}", flush=True)
    result = subprocess.run([*CROSSCLOUD, *args], check=False, text=True,
                            capture_output=capture)  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"crosscloud {args[0]} failed ({result.returncode}):\n{result.stderr or ''}")
    return result.stdout or ""


def _placements(gateway: str) -> Counter[str]:
    """Requests per placement so far, from the gateway's Prometheus metrics."""
    counts: Counter[str] = Counter()
    for line in httpx.get(f"{gateway}/metrics", trust_env=False).text.splitlines():
        if line.startswith("crosscloud_gateway_requests_total{") and 'service="embedder"' in line:
            placement = line.split('placement="', 1)[1].split('"', 1)[0]
            counts[placement] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def _burst(gateway: str) -> tuple[int, float]:
    url = f"{gateway}/embedder/embed"
    with httpx.Client(trust_env=False, timeout=60) as client:

        def one(i: int) -> int:
            response = client.post(url, json={"texts": [SENTENCES[i % len(SENTENCES)]]})
            if response.status_code != 200:
                print(f"  request {i}: {response.status_code} {response.text[:200]}")
                return response.status_code
            return 200 if len(response.json()[0]) == 384 else 599

        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(one, range(BURST)))
        return sum(c == 200 for c in codes), time.perf_counter() - started


def _chaos(gateway: str, status: dict[str, object]) -> None:
    """SIGKILL every replica of one region in the middle of a burst: no request fails."""
    deployment = status["deployments"][0]  # type: ignore[index]
    victims = [r["pid"] for r in deployment["replicas"] if r["placement"] == "local/region-b"]
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(_burst, gateway)
        time.sleep(0.5)
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        ok, _seconds = running.result()
    print(f"chaos: killed local/region-b (pid {', '.join(map(str, victims))}) mid-burst:"
          f" {ok}/{BURST} requests answered 200; the control plane restarts it")  # fmt: skip


def _partition(gateway: str, status: dict[str, object]) -> int | None:
    """Cut region-b's link in the middle of a burst (an isolated region: as root); None
    when the regions share 127.0.0.1."""
    rows = status["deployments"][0].get("network") or []  # type: ignore[index]
    if not any(r["placement"] == "local/region-b" and r["isolated"] for r in rows):
        return None
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(_burst, gateway)
        time.sleep(0.5)
        _crosscloud("chaos", "partition", "region-b", "on")
        ok, _seconds = running.result()
    _crosscloud("chaos", "partition", "region-b", "off")
    print(f"partition: local/region-b's link cut mid-burst: {ok}/{BURST} requests answered"
          " 200 (retried in region-a and region-c); the link is back")  # fmt: skip
    return ok


def _plain_clients(gateway: str, count: int = 40) -> dict[str, int]:
    """Answers (200) from the clients with no keep-alive: urllib.request (it closes every
    connection) and curl with `Connection: close`, one new connection a request."""
    body = orjson.dumps({"texts": ["no keep-alive"]})
    url = f"{gateway}/embedder/embed"
    ok = {"urllib": 0, "curl -H 'Connection: close'": 0}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(count):
        headers = {"content-type": "application/json"}
        request = urllib.request.Request(url, data=body, headers=headers)
        try:
            with opener.open(request, timeout=60) as response:
                ok["urllib"] += response.status == 200 and len(orjson.loads(response.read())) == 1
        except OSError as exc:
            print(f"  urllib: {exc}")
    for _ in range(count):
        done = subprocess.run(
            ["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}",
             "-H", "Connection: close", "-H", "content-type: application/json",
             "--data-binary", body.decode(), url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        ok["curl -H 'Connection: close'"] += done.stdout == "200"
    return ok


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _crosscloud("up", str(HERE / "quickstart" / "crosscloud.yaml"))
    status = orjson.loads(_crosscloud("status", "-o", "json", capture=True))
    gateway = status["gateway"]["url"]
    print(f"\ngateway: {gateway}   service: {gateway}/embedder/embed\n")
    one = httpx.post(f"{gateway}/embedder/embed", json={"texts": SENTENCES}, trust_env=False,
                     timeout=60).json()  # fmt: skip
    print(f"POST /embedder/embed with {len(SENTENCES)} texts -> shape ({len(one)}, {len(one[0])})")
    before = _placements(gateway)
    ok, seconds = _burst(gateway)
    after = _placements(gateway)
    print(f"burst: {ok}/{BURST} requests answered 200 in {seconds:.1f} s"
          f" ({BURST / seconds:.0f} req/s, 16 concurrent clients)")  # fmt: skip
    total = sum(after.values()) - sum(before.values())
    for placement in sorted(after):
        share = (after[placement] - before[placement]) / max(total, 1)
        print(f"  {placement:<16} {after[placement] - before[placement]:>5} requests  {share:6.1%}")
    plain = _plain_clients(gateway)
    answered = ", ".join(f"{client} {n}/40" for client, n in plain.items())
    print(f"clients that close every connection: {answered} answered 200")
    print()
    cut = _partition(gateway, status)
    _chaos(gateway, status)
    print()
    _crosscloud("status")
    print("\nThe deployment keeps running. Try:")
    print(f"  curl -s -X POST {gateway}/embedder/embed -H 'content-type: application/json'"
          " -d '{\"texts\": [\"hello\"]}'")  # fmt: skip
    print("  .venv/bin/crosscloud status | logs embedder --placement local/region-b")
    print("Stop everything with:  .venv/bin/crosscloud down")
    print("\nWatch it in a browser (the control plane serves a dashboard on 127.0.0.1):")
    _crosscloud("dashboard")
    whole = ok == BURST and cut in (None, BURST)
    return 0 if whole and all(n == 40 for n in plain.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
