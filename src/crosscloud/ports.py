"""Protocols for every I/O boundary; each has a real adapter and an in-memory fake."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Wall and monotonic time, so decisions can be tested with a simulated clock."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...
