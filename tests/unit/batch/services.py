"""Small services the batch tests run: batch and single-row, sync and async, some failing."""

from __future__ import annotations

import os
import time

from crosscloud import Service, endpoint


class Upper(Service):
    """Upper-cases text in batches; 'boom' makes the whole batch raise."""

    calls: list[int]

    def setup(self) -> None:
        self.calls = []

    @endpoint(batch=True, max_batch_size=4)
    def upper(self, texts: list[str]) -> list[str]:
        self.calls.append(len(texts))
        if "boom" in texts:
            raise ValueError("cannot shout boom")
        return [t.upper() for t in texts]

    @endpoint(batch=True, max_batch_size=8)
    def short(self, texts: list[str]) -> list[str]:
        return texts[:-1]

    @endpoint(batch=True, max_batch_size=4)
    def mixed(self, texts: list[str]) -> list[str]:
        """'boom' fails its batch (then only its row); 'lie' gets a number, not text."""
        if "boom" in texts:
            raise ValueError("cannot shout boom")
        return [7 if t == "lie" else t.upper() for t in texts]  # type: ignore[misc]

    @endpoint
    def length(self, text: str) -> int:
        if text == "lie":
            return "not a number"  # type: ignore[return-value]
        return len(text)

    @endpoint
    async def double(self, n: int) -> int:
        return 2 * n


class Slow(Service):
    """Echoes after a pause, so a test can stop a job part-way."""

    @endpoint(batch=True, max_batch_size=10)
    def echo(self, text: list[str]) -> list[str]:
        time.sleep(float(os.environ.get("SLOW_SECONDS", "0.05")))
        return text
