"""`make demo`: serve the real embeddings model on 127.0.0.1 and send it real requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from crosscloud import Client

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    source = str(HERE / "embeddings" / "service.py") + ":Embedder"
    print(f"$ crosscloud serve {source} --port {port}")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "crosscloud.cli.main", "serve", source, "--port", str(port)]
    server = subprocess.Popen(cmd, env=env)
    try:
        _wait_ready(url, server)
        with Client(url) as client:
            texts = ["crosscloud serves models anywhere", "GPUs in several clouds", "hello"]
            started = time.perf_counter()
            vectors = client.embed(texts=texts)
            took = (time.perf_counter() - started) * 1000
        print(
            f"POST {url}/embed: {len(texts)} texts -> {len(vectors)} x {len(vectors[0])} floats"
            f" in {took:.1f} ms"
        )
        print(f"shape: ({len(vectors)}, {len(vectors[0])})")
        print(f"docs: {url}/docs  metrics: {url}/metrics")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    return 0


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the model did not become ready in 180 s")


if __name__ == "__main__":
    sys.exit(main())
