"""Passive outlier ejection with Envoy's semantics and defaults (pure: `now` is passed in).

- `consecutive_5xx` (5) errors in a row eject a host at once; any success resets the count.
- A refused or failed connection ejects at once (the replica is gone; waiting for five
  more failures would send five more requests to a dead cloud).
- An ejected host stays out for `base_ejection_time` x times it has been ejected, capped at
  `max_ejection_time`; it returns at the first `interval` sweep after that.
- Each sweep in which a host is in and healthy lowers its ejection multiplier by one.
- At most `max_ejection_percent` of the hosts are out at once, but at least one may be.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Outcome(enum.Enum):
    """What one request to a host told us about that host."""

    SUCCESS = "success"
    SERVER_ERROR = "5xx"
    CONNECT_FAILURE = "connect-failure"


@dataclass(frozen=True)
class OutlierConfig:
    """Envoy's `outlier_detection` defaults (Istio's DestinationRule uses the same)."""

    consecutive_5xx: int = 5
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    max_ejection_percent: float = 10.0
    eject_on_connect_failure: bool = True


@dataclass(frozen=True)
class Ejection:
    """A decision: `host` is out of rotation until `until` (or the first sweep after)."""

    host: str
    until: float
    times: int
    reason: Outcome


@dataclass
class _HostState:
    consecutive_5xx: int = 0
    times_ejected: int = 0
    ejected_until: float | None = None


class OutlierDetector:
    """Per-host counters for one service; `record` and `sweep` return decisions as data."""

    def __init__(self, config: OutlierConfig | None = None) -> None:
        self.config = config or OutlierConfig()
        self._hosts: dict[str, _HostState] = {}
        self._ejected = 0

    def set_hosts(self, host_ids: list[str]) -> None:
        """Track exactly these hosts; known ones keep their state."""
        self._hosts = {h: self._hosts.get(h) or _HostState() for h in host_ids}
        self._ejected = sum(1 for s in self._hosts.values() if s.ejected_until is not None)

    def is_ejected(self, host: str) -> bool:
        """Whether `host` is out of rotation now."""
        state = self._hosts.get(host)
        return state is not None and state.ejected_until is not None

    def ejected(self) -> list[str]:
        """The hosts out of rotation now."""
        return [h for h, s in self._hosts.items() if s.ejected_until is not None]

    def record(self, host: str, outcome: Outcome, *, now: float) -> Ejection | None:
        """Count one request's outcome; an `Ejection` when this one ejects the host."""
        state = self._hosts.get(host)
        if state is None or state.ejected_until is not None:
            return None
        if outcome is Outcome.SUCCESS:
            state.consecutive_5xx = 0
            return None
        if outcome is Outcome.CONNECT_FAILURE and self.config.eject_on_connect_failure:
            return self._eject(host, state, outcome, now)
        state.consecutive_5xx += 1
        if state.consecutive_5xx >= self.config.consecutive_5xx:
            return self._eject(host, state, Outcome.SERVER_ERROR, now)
        return None

    def sweep(self, *, now: float) -> list[str]:
        """The interval timer: hosts whose ejection time has passed come back (returned)."""
        returned: list[str] = []
        for host, state in self._hosts.items():
            if state.ejected_until is None:
                if state.times_ejected > 0 and state.consecutive_5xx == 0:
                    state.times_ejected -= 1
            elif now >= state.ejected_until:
                state.ejected_until = None
                state.consecutive_5xx = 0
                returned.append(host)
        self._ejected -= len(returned)
        return returned

    def uneject(self, host: str) -> bool:
        """Bring `host` back now (it passed active health checks after failing them)."""
        state = self._hosts.get(host)
        if state is None or state.ejected_until is None:
            return False
        state.ejected_until = None
        state.consecutive_5xx = 0
        self._ejected -= 1
        return True

    def _max_ejected(self) -> int:
        allowed = math.floor(len(self._hosts) * self.config.max_ejection_percent / 100.0)
        return max(1, allowed)

    def _eject(self, host: str, state: _HostState, reason: Outcome, now: float) -> Ejection | None:
        state.consecutive_5xx = 0
        if self._ejected >= self._max_ejected():
            return None
        state.times_ejected += 1
        duration = min(
            self.config.base_ejection_time * state.times_ejected, self.config.max_ejection_time
        )
        state.ejected_until = now + duration
        self._ejected += 1
        return Ejection(
            host=host, until=state.ejected_until, times=state.times_ejected, reason=reason
        )
