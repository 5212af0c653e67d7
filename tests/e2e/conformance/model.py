"""What a conformance case is (the bytes to send, the answers expected back, whether the
connection stays open) and how an outcome is checked against it.

A case's `expect` is the answer RFC 9110/9112 asks for, which nginx gives. Where one of
the two proxies answers otherwise, and that is known and meant (the gateway) or known
and wrong (nginx 1.22), the case carries that proxy's own expectation and a `why`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.conformance import wire

#: What the probe (one more request on the same connection) may find afterwards.
OPEN, CLOSED, EITHER = "open", "closed", "open or closed"

#: The probe: the backend echoes its target, so a stray answer cannot pass for it.
PROBE = b"GET /svc/echo?probe HTTP/1.1\r\nHost: gw.test\r\n\r\n"
PROBE_MARKER = b'"target": "/echo?probe"'


@dataclass(frozen=True)
class Answer:
    """One final answer: the parts that are checked (None: not checked)."""

    status: int | frozenset[int]
    framing: str | None = "length"
    body: bytes | None = None
    #: Fields of the backend's /echo JSON (what the backend was sent).
    echo: Mapping[str, Any] = field(default_factory=dict)
    #: Request headers the backend saw (a value), or must not have seen (None).
    sent: Mapping[str, str | None] = field(default_factory=dict)
    #: Answer headers (a lower-case value), or ones that must be absent (None).
    headers: Mapping[str, str | None] = field(default_factory=dict)
    interim: tuple[int, ...] | None = ()
    #: It answers a HEAD: no body, whatever its headers say.
    head: bool = False


@dataclass(frozen=True)
class Expected:
    """Every answer on the connection, in order, then what the probe finds."""

    answers: tuple[Answer, ...]
    after: str = OPEN


@dataclass
class Outcome:
    """What came back: the answers read, the probe's finding, and any driver complaint."""

    answers: list[wire.Response] = field(default_factory=list)
    after: str = ""
    error: str = ""
    problems: list[str] = field(default_factory=list)


Driver = Callable[[int, "Case", "Expected"], Outcome]


@dataclass(frozen=True)
class Case:
    """One conformance case; `drive` sends `send` to a port and reads the outcome."""

    id: str
    send: bytes
    expect: Expected
    drive: Driver | None = None
    #: The gateway's intended answer where it differs from nginx's on purpose.
    gateway: Expected | None = None
    #: nginx's answer where nginx 1.22 is known to be wrong.
    nginx: Expected | None = None
    why: str = ""

    def expected(self, target: str) -> Expected:
        override = self.gateway if target == "gateway" else self.nginx
        return override or self.expect


def check(outcome: Outcome, expected: Expected) -> list[str]:
    """Every way `outcome` falls short of `expected`, as readable lines (empty: it passes)."""
    problems = list(outcome.problems)
    for i, answer in enumerate(expected.answers):
        if i >= len(outcome.answers):
            problems.append(f"answer {i + 1}: none ({outcome.error or 'not read'})")
            break
        problems += [f"answer {i + 1}: {p}" for p in check_answer(outcome.answers[i], answer)]
    else:
        if outcome.error:
            problems.append(outcome.error)
        if not _after_ok(outcome.after, expected.after):
            problems.append(f"afterwards the connection is {outcome.after!r}, not {expected.after}")
    return problems


def _after_ok(found: str, wanted: str) -> bool:
    return found in (OPEN, CLOSED) if wanted == EITHER else found == wanted


def check_answer(got: wire.Response, want: Answer) -> list[str]:
    problems = []
    statuses = want.status if isinstance(want.status, frozenset) else {want.status}
    if got.status not in statuses:
        problems.append(f"status {got.status}, not {sorted(statuses)}")
    if got.framing != want.framing and (want.framing is not None or got.framing == "broken"):
        problems.append(f"framing {got.framing!r}, not {want.framing or 'a whole one'!r}")
    if want.interim is not None and tuple(got.interim) != want.interim:
        problems.append(f"interim answers {got.interim}, not {list(want.interim)}")
    if want.body is not None and got.body != want.body:
        problems.append(f"body {_show(got.body)}, not {_show(want.body)}")
    for name, value in want.headers.items():
        have = got.header(name)
        if (None if have is None else have.lower()) != value:
            problems.append(f"answer header {name}: {have!r}, not {value!r}")
    if want.echo or want.sent:
        problems += _check_echo(got.body, want)
    return problems


def _check_echo(body: bytes, want: Answer) -> list[str]:
    try:
        echoed = json.loads(body)
    except ValueError:
        return [f"not the backend's echo: {_show(body)}"]
    problems = [
        f"backend saw {key}={echoed.get(key)!r}, not {value!r}"
        for key, value in want.echo.items()
        if echoed.get(key) != value
    ]
    seen = {}
    for name, value in echoed["headers"]:
        seen.setdefault(name, value)
    for name, value in want.sent.items():
        if seen.get(name) != value:
            problems.append(f"backend saw header {name}: {seen.get(name)!r}, not {value!r}")
    return problems


def _show(data: bytes, limit: int = 160) -> str:
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data)} bytes)"
