"""Cold start (process start to the first 200) and resident memory after a few requests,
for `crosscloud serve examples/echo/service.py` beside the floor."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import procstat
import servers

WARM_REQUESTS = 20


def _specs() -> list[servers.Spec]:
    floor = next(s for s in servers.contenders() if s.name == "floor")
    echo = servers.Spec(
        "crosscloud-echo",
        (
            str(servers.MAIN_BIN / "crosscloud"),
            "serve",
            "examples/echo/service.py",
            "--port={port}",
            "--log-level=warning",
        ),
    )
    return [floor, echo]


def run(*, repeats: int, log_dir: Path) -> dict[str, Any]:
    """Start each server `repeats` times, alternating; medians of start time and RSS."""
    samples: dict[str, dict[str, list[float]]] = {}
    for _ in range(repeats):
        for spec in _specs():
            with servers.Server(spec, log=log_dir / f"cold-{spec.name}.log") as server:
                seconds = server.wait_ok("/echo", servers.ECHO_BODY, timeout=60)
                for _ in range(WARM_REQUESTS):
                    servers.post(server.port, "/echo", servers.ECHO_BODY)
                rss = procstat.rss_bytes(server.pid)
            entry = samples.setdefault(spec.name, {"start_s": [], "rss_mb": []})
            entry["start_s"].append(seconds)
            entry["rss_mb"].append(rss / 2**20)
    return {
        name: {
            **{key: statistics.median(values) for key, values in entry.items()},
            "samples": entry,
        }
        for name, entry in samples.items()
    }
