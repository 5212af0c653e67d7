"""Arrow types from type hints, and results that do not fit them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pydantic
import pytest

from crosscloud.batch import schema


class Point(pydantic.BaseModel):
    x: float
    label: str


@pytest.mark.parametrize(
    ("hint", "arrow"),
    [
        (str, pa.string()),
        (int, pa.int64()),
        (list[float], pa.list_(pa.float64())),
        (str | None, pa.string()),
        (tuple[int, ...], pa.list_(pa.int64())),
        (Point, pa.struct([("x", pa.float64()), ("label", pa.string())])),
        (dict[str, int], None),
        (Any, None),
        (int | str, None),
    ],
)
def test_arrow_type(hint: Any, arrow: pa.DataType | None) -> None:
    assert schema.arrow_type(hint) == arrow


def test_to_arrow_models_and_json_fallback() -> None:
    assert schema.to_arrow([Point(x=1, label="a")], Point).to_pylist() == [{"x": 1.0, "label": "a"}]
    assert schema.to_arrow([{"a": 1}], dict[str, int]).to_pylist() == ['{"a":1}']
    with pytest.raises((pa.ArrowException, TypeError, ValueError)):
        schema.to_arrow(["x"], float)
