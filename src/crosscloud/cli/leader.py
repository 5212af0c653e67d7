"""Which of a state directory's control planes the CLI talks to.

One control plane (SQLite, or PostgreSQL with no standby): that one. Several (PostgreSQL):
each is asked for its role (`/v1/health`, answered within a second, so a frozen one is
passed over). A read goes to the leader, else to any that answers: every one serves
reads from the shared database. A write goes to the leader; while none leads (a standby
takes over within about 6 s of the leader's death) the CLI waits up to `LEADER_WAIT`,
unless a control plane reports that the database itself is unavailable: then that one
gets the write and refuses it in one line, nothing changed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from crosscloud.controlplane import instances

LEADER_WAIT = 15.0
HEALTH_TIMEOUT = 1.0
POLL = 0.2


def _health(info: dict[str, Any]) -> dict[str, Any] | None:
    """The control plane's role; None when it does not answer in time."""
    try:
        response = httpx.get(
            f"{info['url']}/v1/health",
            headers={"authorization": f"Bearer {info['token']}"},
            timeout=HEALTH_TIMEOUT,
            trust_env=False,
        )
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if response.status_code != 200 or not isinstance(body, dict):
        return None
    return body


def choose(home: Path, *, write: bool, wait: float = LEADER_WAIT) -> dict[str, Any] | None:
    """The info (with its token) of the control plane to send a request to; None when
    none runs. A write waits for a leader (see the module's docstring)."""
    deadline = time.monotonic() + wait
    while True:
        found = instances.live(home)
        if not found or (len(found) == 1 and not write):
            return found[0] if found else None
        answers = [(info, _health(info)) for info in found]
        answering = [(info, seen) for info, seen in answers if seen is not None]
        for info, seen in answering:
            if seen.get("role", "leader") == "leader":  # an older control plane: it leads
                return info
        if answering and not write:
            return answering[0][0]
        for info, seen in answering:
            if seen.get("error"):  # the database: waiting for a leader would not help
                return info
        if time.monotonic() >= deadline:
            return (answering[0][0] if answering else None) or found[0]
        time.sleep(POLL)
