"""Which input columns feed which parameters, which columns the output keeps, and the name
of the result column; every mismatch is one UserError naming the column and the choices."""

from __future__ import annotations

from collections.abc import Sequence

from crosscloud import errors
from crosscloud.batch import dataset
from crosscloud.sdk.definition import EndpointDefinition


def parse_mapping(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`param=column` strings from --column into pairs."""
    pairs = []
    for item in items:
        param, sep, column = item.partition("=")
        if not sep or not param.strip() or not column.strip():
            raise errors.UserError(f"--column {item!r}: write PARAM=COLUMN, e.g. texts=text")
        pairs.append((param.strip(), column.strip()))
    return tuple(pairs)


def common_columns(files: Sequence[dataset.InputFile]) -> list[str]:
    """The columns every input file has, in the first file's order."""
    if not files:
        return []
    shared = set(files[0].columns).intersection(*(f.columns for f in files[1:]))
    return [c for c in files[0].columns if c in shared]


def resolve(
    ep: EndpointDefinition,
    given: Sequence[tuple[str, str]],
    files: Sequence[dataset.InputFile],
) -> tuple[tuple[str, str], ...]:
    """(parameter, column) for every parameter that gets a column: the one given with
    --column, else a column of the same name; a parameter with a default may get none."""
    available = common_columns(files)
    mapping = dict(given)
    for param in mapping:
        if param not in ep.params:
            raise errors.UserError(
                f"--column {param}=...: endpoint {ep.name!r} has no parameter {param!r}"
                f" (parameters: {', '.join(ep.params)})"
            )
    pairs = []
    for param in ep.params:
        column = mapping.get(param, param)
        if column in available:
            pairs.append((param, column))
        elif param in mapping or ep.request_model.model_fields[param].is_required():
            raise errors.UserError(
                _missing(param, column, available, files, given=param in mapping)
            )
    return tuple(pairs)


def _missing(
    param: str,
    column: str,
    available: list[str],
    files: Sequence[dataset.InputFile],
    *,
    given: bool,
) -> str:
    lacking = next((f.path for f in files if column not in f.columns), None)
    where = f"{lacking} has no column {column!r}" if lacking else f"no column {column!r}"
    hint = "" if given else f"; map one with --column {param}=COLUMN"
    return f"parameter {param!r}: {where} (columns: {', '.join(available) or 'none'}){hint}"


def keep(
    requested: Sequence[str] | None, files: Sequence[dataset.InputFile], *, result: str
) -> tuple[str, ...]:
    """The input columns the output keeps (default: all the inputs share)."""
    available = common_columns(files)
    chosen = list(requested) if requested is not None else available
    for name in chosen:
        if name not in available:
            raise errors.UserError(
                f"--keep {name!r}: not a column of every input (columns: {', '.join(available)})"
            )
    if result in chosen:
        raise errors.UserError(
            f"the result column {result!r} would replace the input column of that name;"
            " pick another with --result-column NAME or leave it out of --keep"
        )
    return tuple(chosen)
