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
    for error, path in _relevant(exc, doc.data, root):
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


def _relevant(
    exc: pydantic.ValidationError, data: object, root: type[base.Model]
) -> list[tuple[ErrorDetails, Path]]:
    """Errors with their data paths, less the echoes of another error: a list "too short
    after validation" because its items failed, a field "missing" that was misspelled."""
    located = [(e, _normalize(e["loc"], data)) for e in exc.errors(include_url=False)]
    paths = [path for _, path in located]
    misspelled = {
        (*path[:-1], near)
        for error, path in located
        if error["type"] == "extra_forbidden"
        and (near := quantity.did_you_mean(str(path[-1]), _allowed_keys(root, path[:-1])))
    }
    return [
        (error, path)
        for error, path in located
        if not (error["type"] == "missing" and path in misspelled)
        and not (error["type"] == "too_short" and any(_under(p, path) for p in paths))
    ]


def _under(path: Path, parent: Path) -> bool:
    return len(path) > len(parent) and path[: len(parent)] == parent


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
        return _unknown_field(root, path)
    if kind == "missing":
        return "required field is missing"
    if kind in {"model_type", "dict_type"} and path[-2:-1] == ("secretEnv",):
        return (
            "write a reference to a Kubernetes Secret, {secret: NAME, key: KEY}; a secret's"
            " value never goes in the manifest"
        )
    if kind in {"value_error", "assertion_error"}:
        return str(ctx.get("error", error["msg"]))
    wanted = "a list of placements, or auto" if path == ("spec", "placements") else None
    if kind == "literal_error":
        choices = _QUOTED.findall(str(ctx.get("expected", "")))
        near = quantity.did_you_mean(str(value), choices) if isinstance(value, str) else None
        hint = f"; did you mean {near!r}?" if near else ""
        return f"{shown} is not allowed{hint} (expected {wanted or ctx.get('expected')})"
    if kind in _EXPECTED:
        return f"{_found(value, shown)}; expected {wanted or _EXPECTED[kind]}"
    if kind == "string_pattern_mismatch":
        return f"{shown} has characters not allowed here (pattern {ctx.get('pattern')})"
    if error["msg"].startswith("Input should be"):
        return f"{shown} {error['msg'].removeprefix('Input ')}"
    return f"{shown}: {error['msg']}"


def _unknown_field(root: type[base.Model], path: Path) -> str:
    allowed = _allowed_keys(root, path[:-1])
    near = quantity.did_you_mean(str(path[-1]), allowed)
    hint = f"; did you mean {near!r}?" if near else ""
    return f"unknown field {path[-1]!r}{hint} (allowed here: {', '.join(allowed)})"


def _is_secret(path: Path) -> bool:
    return "secretEnv" in path or path[-1:] == ("url",)


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _found(value: object, shown: str) -> str:
    """What the user wrote, as a clause: `'two' is text`, `found a mapping`."""
    if value is None:
        return "empty value"
    if isinstance(value, bool):
        return f"{shown} is a true/false value"
    if isinstance(value, int | float):
        return f"{shown} is a number"
    if isinstance(value, str):
        return f"{shown} is text"
    return f"found {_show(value)}"


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
