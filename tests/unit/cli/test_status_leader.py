"""`status` says which control plane leads when several may share the database."""

from __future__ import annotations

from typing import Any

import pytest

from crosscloud.cli import status_view

LEADER = {"pid": 7, "url": "http://127.0.0.1:9", "host": "h"}


@pytest.mark.parametrize(
    ("plane", "expected"),
    [
        ({}, []),  # an older control plane
        ({"shared": False, "role": "leader", "pid": 7, "leader": LEADER}, []),  # SQLite
        (
            {"shared": True, "role": "leader", "pid": 7, "leader": LEADER},
            ["control plane: pid 7 leads at http://127.0.0.1:9"],
        ),
        (
            {"shared": True, "role": "standby", "pid": 8, "leader": LEADER},
            ["control plane: pid 7 leads at http://127.0.0.1:9; standby pid 8 answered"],
        ),
        (
            {"shared": True, "role": "standby", "pid": 8, "leader": None, "error": "db down"},
            [
                "warning: no control plane leads at the moment: db down",
                "  nothing is restarted or scaled meanwhile; replica states are as last recorded",
            ],
        ),
    ],
)
def test_leader_lines(plane: dict[str, Any], expected: list[str]) -> None:
    assert status_view.leader_lines({"controlplane": plane}) == expected
