"""Fixtures for the manifest tests: a small valid manifest as text and as data."""

from __future__ import annotations

import pytest
import yaml

from tests.unit.domain.manifest_samples import VALID


@pytest.fixture
def valid_text() -> str:
    return VALID


@pytest.fixture
def valid_data() -> dict[str, object]:
    data = yaml.safe_load(VALID)
    assert isinstance(data, dict)
    return data
