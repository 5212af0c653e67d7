"""Arrow types for an endpoint's rows: the per-row type of each parameter and of the result,
taken from the handler's type hints, and the conversion of results into an Arrow column."""

from __future__ import annotations

import datetime
import types
import typing
from typing import Any

import pyarrow as pa
import pydantic

from crosscloud.sdk.definition import EndpointDefinition

_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    datetime.datetime: pa.timestamp("us"),
    datetime.date: pa.date32(),
}
_SEQUENCES = (list, tuple, set, frozenset)


def arrow_type(hint: Any) -> pa.DataType | None:
    """The Arrow type that holds values of `hint`, or None when there is no fixed one (Any,
    dicts, unions of several types): such values are stored as JSON text."""
    if hint in _SCALARS:
        return _SCALARS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return arrow_type(rest[0]) if len(rest) == 1 else None
    if origin in _SEQUENCES and args and (len(args) == 1 or args[1] is Ellipsis):
        item = arrow_type(args[0])
        return pa.list_(item) if item is not None else None
    if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
        fields = [(n, arrow_type(f.annotation)) for n, f in hint.model_fields.items()]
        if all(t is not None for _, t in fields):
            return pa.struct([pa.field(n, t) for n, t in fields])
    return None


def row_types(ep: EndpointDefinition) -> dict[str, Any]:
    """Each parameter's type for one row: a batch endpoint's `list[X]` gives X."""
    types_: dict[str, Any] = {}
    for name, field in ep.request_model.model_fields.items():
        hint = field.annotation
        if ep.options.batch:
            args = typing.get_args(hint)
            hint = args[0] if args else Any
        types_[name] = hint
    return types_


def result_type(ep: EndpointDefinition) -> Any:
    """The type of one row's result: a batch endpoint's `list[Y]` gives Y."""
    hint = ep.response_type
    if ep.options.batch:
        args = typing.get_args(hint)
        return args[0] if args else Any
    return hint


def result_arrow_type(hint: Any) -> pa.DataType:
    """The column type results are stored in (JSON text when there is no fixed type)."""
    return arrow_type(hint) or pa.string()


def to_arrow(values: list[Any], hint: Any) -> pa.Array:
    """Results as an Arrow column; raises (TypeError/ValueError/ArrowException) when a value
    does not fit the declared type."""
    target = arrow_type(hint)
    if target is None:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(hint)
        return pa.array([adapter.dump_json(v).decode() for v in values], type=pa.string())
    if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
        values = [hint.model_validate(v).model_dump() for v in values]
    return pa.array(values, type=target)
