"""A service whose requests take as long as they are told (for draining on SIGTERM and
concurrency), and one that answers a body as large as it is told."""

from __future__ import annotations

import time

from crosscloud import Service, endpoint


class Slow(Service):
    @endpoint
    def wait(self, seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    @endpoint
    def fast(self) -> str:
        return "fast"

    @endpoint
    def big(self, size: int) -> str:
        return "x" * size
