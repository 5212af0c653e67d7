"""Units cover every row exactly once and keep every core busy."""

from __future__ import annotations

import pytest

from crosscloud.batch import dataset, plan


def files(*rows: int) -> list[dataset.InputFile]:
    return [dataset.InputFile(f"/f{i}", "parquet", n, 1, 1, ("x",)) for i, n in enumerate(rows)]


@pytest.mark.parametrize(
    ("rows", "cores", "batch", "units"),
    [
        ((1000,), 2, 32, 8),  # one small file still gives every core several units
        ((10,), 2, 32, 1),  # never smaller than one batch
        ((0, 5), 4, 1, 5),  # an empty file gets no unit
        ((3, 3, 3), 1, 100, 3),  # never across files
        ((1_000_000,), 2, 32, 10),  # at most MAX_UNIT_ROWS per unit
    ],
)
def test_split(rows: tuple[int, ...], cores: int, batch: int, units: int) -> None:
    got = plan.split(files(*rows), parallelism=cores, batch_size=batch)
    assert len(got) == units
    covered = sorted((u.file.path, r) for u in got for r in range(u.start, u.stop))
    assert covered == sorted((f"/f{i}", r) for i, n in enumerate(rows) for r in range(n))


def test_plan_round_trips_through_json() -> None:
    fs = files(40, 7)
    units = plan.split(fs, parallelism=2, batch_size=4)
    data = plan.to_json(fs, units, source="s.py:S", endpoint="e")
    assert plan.from_json(data) == (fs, units)
