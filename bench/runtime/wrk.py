"""Run wrk against one URL and parse the figures post.lua prints."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("post.lua")
_LINE = re.compile(r"^BENCH (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Load:
    """One wrk run's outcome."""

    requests: int
    seconds: float
    errors: int
    p50_us: int
    p99_us: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run(url: str, *, connections: int, seconds: float, body: str | None = None) -> Load:
    """POST `body` (default: the echo body) to url with `connections` open connections."""
    env = dict(os.environ)
    if body is not None:
        env["WRK_BODY"] = body
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    argv += ["-s", str(LUA), url]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    match = _LINE.search(out)
    if match is None:
        raise RuntimeError(f"wrk printed no summary for {url}:\n{out}")
    fields = dict(pair.split("=") for pair in match.group(1).split())
    return Load(
        requests=int(fields["requests"]),
        seconds=int(fields["duration_us"]) / 1e6,
        errors=int(fields["errors"]) + int(fields["non2xx"]),
        p50_us=int(fields["p50_us"]),
        p99_us=int(fields["p99_us"]),
    )
