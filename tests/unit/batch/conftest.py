"""Fixtures for batch tests: small input files and a job spec builder."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def texts(tmp_path: Path) -> Path:
    """100 rows: id 0..99, text 'row-N'; id 13 has no text."""
    path = tmp_path / "texts.parquet"
    rows = [None if i == 13 else f"row-{i}" for i in range(100)]
    pq.write_table(pa.table({"id": list(range(100)), "text": rows}), path, row_group_size=30)
    return path
