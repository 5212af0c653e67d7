"""Whether the control loop can act: when a pass last completed, and the error that stops
the passes since. `status` shows it, and marks the replicas' recorded states stale while the
loop fails (a replica that died meanwhile would otherwise still read Ready)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

STALE_AFTER = 3.0  # seconds without a completed pass, while failing, before states are stale


@dataclass
class _Seen:
    last_pass: float | None = None
    error: str = ""
    failing_since: float | None = None
    error_at: float | None = None


class LoopHealth:
    """Written by the loop after each pass, read by the API's threads."""

    def __init__(self) -> None:
        self._seen = _Seen()
        self._lock = threading.Lock()

    def passed(self, now: float) -> None:
        with self._lock:
            self._seen = _Seen(last_pass=now)

    def failed(self, now: float, error: str) -> bool:
        """Note a failed pass; True when its error differs from the last one (log it)."""
        with self._lock:
            seen = self._seen
            new = error != seen.error
            self._seen = _Seen(seen.last_pass, error, seen.failing_since or now, now)
        return new

    def report(self, now: float) -> dict[str, Any]:
        """For `status`: ok, or the error, since when it fails, and whether the recorded
        replica states are too old to trust."""
        with self._lock:
            seen = self._seen
        stale = bool(seen.error) and (seen.last_pass is None or now - seen.last_pass > STALE_AFTER)
        return {
            "ok": not seen.error,
            "stale": stale,
            "last_pass_at": seen.last_pass,
            "error": seen.error,
            "failing_since": seen.failing_since,
            "error_at": seen.error_at,
        }
