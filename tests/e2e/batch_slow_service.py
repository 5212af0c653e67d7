"""A service for the batch e2e tests: echoes after a pause, so a job can be killed part-way."""

from __future__ import annotations

import os
import time

from crosscloud import Service, endpoint


class Slow(Service):
    """Echoes text after SLOW_SECONDS per batch."""

    @endpoint(batch=True, max_batch_size=10)
    def echo(self, text: list[str]) -> list[str]:
        time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
        return text
