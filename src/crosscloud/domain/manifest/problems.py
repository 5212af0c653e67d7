"""pydantic's validation errors -> `Problem`s a person can act on: where the value was
written, its field path, the bad value (never for secrets) and what is allowed."""

from __future__ import annotations

import re
import typing
from typing import Any

import pydantic
from pydantic_core import ErrorDetails

from crosscloud import errors
from crosscloud.domain import quantity, yamlpos
from crosscloud.domain.manifest import base, rules
from crosscloud.domain.yamlpos import Path

_UNION_TAGS = {"list", "auto"}  # the Tag names of discriminated unions in the model
_EXPECTED = {
    "string_type": "text (put it in quotes)",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "dict_type": "a mapping (key: value lines)",
    "tuple_type": "a list",
    "list_type": "a list",
}
_QUOTED = re.compile(r"'([^']*)'")


def convert(
    exc: pydantic.ValidationError, doc: yamlpos.Document, *, root: type[base.Model], filename: str
) -> list[tuple[Path, errors.Problem]]:
    """One (data path, Problem) per error; rule violations expand to one per rule."""
    found: list[tuple[Path, errors.Problem]] = []
    for error in exc.errors(include_url=False):
        path = _normalize(error["loc"], doc.data)
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, rules.RuleViolations):
            for relative, message in cause.violations:
                full = (*path, *relative)
                found.append((full, _problem(doc, full, message, filename=filename)))
            continue
        at_key = error["type"] == "extra_forbidden" or error["loc"][-1:] == ("[key]",)
        message = _describe(error, path, root)
        found.append((path, _problem(doc, path, message, filename=filename, key=at_key)))
    return found


def _problem(
    doc: yamlpos.Document, path: Path, message: str, *, filename: str, key: bool = False
) -> errors.Problem:
    mark = doc.mark_of(path, key=key)
    return errors.Problem(mark.line, mark.column, yamlpos.format_path(path), message, filename)


def _normalize(loc: tuple[int | str, ...], data: object) -> Path:
    """pydantic's loc -> a path into the data, without union tags or `[key]` markers."""
    path: list[str | int] = []
    current: object = data
    missing = False
    for part in loc:
        if missing:
            path.append(part)
        elif isinstance(current, dict):
            if part in current:
                path.append(part)
                current = current[part]
            elif part not in _UNION_TAGS and part != "[key]":
                path.append(part)
                missing = True
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
    return tuple(path)


def _describe(error: ErrorDetails, path: Path, root: type[base.Model]) -> str:
    kind, ctx, value = error["type"], error.get("ctx", {}), error["input"]
    shown = "this value" if _is_secret(path) else _show(value)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(root, path[:-1])
        near = quantity.did_you_mean(str(path[-1]), allowed)
        hint = f"; did you mean {near!r}?" if near else ""
        return f"unknown field {path[-1]!r}{hint} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return f"required field {path[-1]!r} is missing"
    if kind in {"value_error", "assertion_error"}:
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        choices = _QUOTED.findall(str(ctx.get("expected", "")))
        near = quantity.did_you_mean(str(value), choices) if isinstance(value, str) else None
        hint = f"; did you mean {near!r}?" if near else ""
        return f"{shown} is not allowed{hint} (expected {ctx.get('expected')})"
    if kind in _EXPECTED:
        wanted = _EXPECTED[kind]
        if path == ("spec", "placements"):
            wanted = "a list of placements, or auto"
        return f"{shown} is {_kind(value)}; expected {wanted}"
    if kind == "string_pattern_mismatch":
        return f"{shown} has characters not allowed here (pattern {ctx.get('pattern')})"
    return f"{shown}: {error['msg'].replace('Input should be', 'should be')}"


def _is_secret(path: Path) -> bool:
    return "secretEnv" in path or path[-1:] == ("url",)


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return _show(value)


def _allowed_keys(root: type[base.Model], path: Path) -> list[str]:
    """The keys the model accepts at `path` (a mapping in the data)."""
    models: list[type[base.Model]] = [root]
    for part in path:
        if isinstance(part, int):
            continue
        inner = [
            found
            for model in models
            for name, info in model.model_fields.items()
            if part in (info.alias, name)
            for found in _models_in(info.annotation)
        ]
        if inner:  # else `part` is a key of a dict field: stay with the value models
            models = inner
    return sorted({info.alias or name for m in models for name, info in m.model_fields.items()})


def _models_in(annotation: Any) -> list[type[base.Model]]:
    if isinstance(annotation, type) and issubclass(annotation, base.Model):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
