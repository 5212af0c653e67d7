"""`crosscloud logs -f` on pods orders lines by the kubelet's timestamps, which drop the
trailing zeros of their fraction: compared as strings, 07:00:01.5Z would sort after
07:00:01.25Z."""

from __future__ import annotations

import pytest

from crosscloud.cli.observe_cmds import _rfc3339, _stamp

pytestmark = pytest.mark.timeout(10)


def test_stamps_order_by_time_whatever_the_fraction_length() -> None:
    times = [
        "2026-11-27T07:00:01Z",
        "2026-11-27T07:00:01.000000001Z",
        "2026-11-27T07:00:01.25Z",
        "2026-11-27T07:00:01.5Z",
        "2026-11-27T07:00:01.9Z",
        "2026-11-27T07:00:02.1Z",
    ]
    assert sorted(times, key=_stamp) == times
    assert sorted(times) != times  # the reason for _stamp
    assert _stamp("2026-11-27T07:00:01.50Z") == _stamp("2026-11-27T07:00:01.5Z")


def test_since_time_keeps_nanoseconds() -> None:
    at = "2026-11-27T07:00:01.000000042Z"
    assert _rfc3339(_stamp(at)) == at
    assert _rfc3339(_stamp("2026-11-27T07:00:01Z")) == "2026-11-27T07:00:01.000000000Z"
