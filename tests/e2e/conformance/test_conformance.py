"""Every conformance case against crosscloud's gateway and against nginx, in front of the
same backends: the answer each proxy gives must be the one the case expects (RFC 9112's,
which nginx gives), or that proxy's own expectation where the case says why it differs.
As both are held to one expectation, a pass for both means they agree.

    .venv/bin/python -m pytest tests/e2e/conformance -q -p no:randomly
"""

from __future__ import annotations

import pytest

from tests.e2e.conformance import (
    cases_connections,
    cases_framing,
    cases_refused,
    cases_serve,
    drivers,
)
from tests.e2e.conformance.model import Case, check

CASES: list[Case] = (
    cases_framing.CASES + cases_connections.CASES + cases_refused.CASES + cases_serve.CASES
)
TARGETS = ["gateway", "nginx"]

pytestmark = pytest.mark.timeout(60)


def _shown(data: bytes, limit: int = 300) -> str:
    text = repr(data[:limit])
    return text + (f"... ({len(data)} bytes)" if len(data) > limit else "")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("target", TARGETS)
def test_case(target: str, case: Case, proxy_port: int) -> None:
    expected = case.expected(target)
    outcome = drivers.run(proxy_port, case, expected)
    problems = check(outcome, expected)
    why = (
        f"\n  (differs on purpose: {case.why})" if case.why and expected is not case.expect else ""
    )
    assert not problems, (
        f"{target} answered {case.id} wrongly{why}\n  sent: {_shown(case.send)}\n  "
        + "\n  ".join(problems)
    )


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) >= 45


def test_every_difference_says_why() -> None:
    assert [c.id for c in CASES if (c.gateway or c.nginx) and not c.why] == []
