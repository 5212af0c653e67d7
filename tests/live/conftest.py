"""Live tests run against real clusters only when CROSSCLOUD_LIVE_KUBECONFIG is set.

Without it every test marked `live` is skipped with the reason below, so `make test`
never needs a cluster. See the README's "Running the live tests".
"""

from __future__ import annotations

import os

import pytest

KUBECONFIG_ENV = "CROSSCLOUD_LIVE_KUBECONFIG"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(KUBECONFIG_ENV):
        return
    skip = pytest.mark.skip(reason=f"set {KUBECONFIG_ENV}")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)
