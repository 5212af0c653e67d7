"""The price catalog as data: one `CatalogRow` per (provider, region, instance type), parsed
from CSV text with every malformed row reported by file and line. Pure: callers read files.

Columns (header names, any order): provider, region, instance_type, accelerator,
accelerator_count, vcpus, memory_gib, price_hour, and optionally spot_price_hour, read_on,
max_instances, source. Lines starting with `#` are comments. Prices are USD per instance-hour.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from crosscloud import errors
from crosscloud.domain import providers, quantity

REQUIRED_COLUMNS = (
    "provider",
    "region",
    "instance_type",
    "accelerator",
    "accelerator_count",
    "vcpus",
    "memory_gib",
    "price_hour",
)
OPTIONAL_COLUMNS = ("spot_price_hour", "read_on", "max_instances", "source")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class CatalogRow:
    """One instance type offered in one region, with its capacity and hourly prices.

    `max_instances` is None for cloud offerings (buy as many as needed) and 1 for this
    machine; `spot_price_hour` is None where no spot price is known.
    """

    provider: str
    region: str
    instance_type: str
    accelerator: str | None
    accelerator_count: int
    vcpus: float
    memory_gib: float
    price_hour: float
    spot_price_hour: float | None = None
    read_on: date | None = None
    max_instances: int | None = None
    source: str = ""

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * 2**30)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.provider, self.region, self.instance_type)


def normalize_provider(value: str) -> str:
    """`AWS`, `Google`, `GCP` -> the canonical lower-case name; ValueError if unknown."""
    found = providers.find(value)
    if found is None:
        allowed = providers.names()
        near = quantity.did_you_mean(value.strip().lower(), allowed)
        hint = f"; did you mean {near!r}?" if near else ""
        raise ValueError(f"unknown provider {value!r}{hint} (allowed: {', '.join(allowed)})")
    return found.name


def parse_catalog(text: str, filename: str) -> list[CatalogRow]:
    """Rows of a catalog CSV; raises ManifestError listing every bad line (file:line:column)."""
    problems: list[errors.Problem] = []
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines) if _is_data(line)), None)
    if header_at is None:
        raise errors.ManifestError([errors.Problem(1, 1, "", "empty price catalog", filename)])
    header = [h.strip() for h in next(csv.reader([lines[header_at]]))]
    problems += _check_header(header, header_at + 1, filename)
    if problems:
        raise errors.ManifestError(problems)
    rows: list[CatalogRow] = []
    first_line: dict[tuple[str, str, str], int] = {}
    for number, line in enumerate(lines[header_at + 1 :], start=header_at + 2):
        if not _is_data(line):
            continue
        row = _parse_line(line, header, at=(filename, number), problems=problems)
        if row is None:
            continue
        if row.key in first_line:
            problems.append(
                errors.Problem(
                    number, 1, "instance_type", _duplicate(row, first_line[row.key]), filename
                )
            )
            continue
        first_line[row.key] = number
        rows.append(row)
    if problems:
        raise errors.ManifestError(problems)
    return rows


def merge(base: Iterable[CatalogRow], extra: Iterable[CatalogRow]) -> list[CatalogRow]:
    """`base` extended by `extra`; a row of `extra` replaces the base row with the same key."""
    merged = {row.key: row for row in base}
    merged.update((row.key, row) for row in extra)
    return list(merged.values())


def local_rows(
    *, cpus: float, memory_bytes: int, regions: Sequence[str] = ("local",)
) -> list[CatalogRow]:
    """This machine as a free offering (one instance) in each local region."""
    return [
        CatalogRow(
            provider=providers.LOCAL.name,
            region=region,
            instance_type="this-machine",
            accelerator=None,
            accelerator_count=0,
            vcpus=float(cpus),
            memory_gib=memory_bytes / 2**30,
            price_hour=0.0,
            spot_price_hour=None,
            max_instances=1,
            source="this machine",
        )
        for region in regions
    ]


def _is_data(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _duplicate(row: CatalogRow, line: int) -> str:
    where = f"{row.provider}/{row.region}/{row.instance_type}"
    return f"{where} is listed twice (first at line {line}); keep one row per instance type"


def _check_header(header: list[str], line: int, filename: str) -> list[errors.Problem]:
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    problems = []
    for position, name in enumerate(header):
        if name not in known:
            near = quantity.did_you_mean(name, known)
            hint = f"; did you mean {near!r}?" if near else ""
            message = f"unknown column {name!r}{hint} (columns: {', '.join(known)})"
            problems.append(errors.Problem(line, position + 1, name, message, filename))
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        message = (
            f"missing column(s) {', '.join(missing)} (required: {', '.join(REQUIRED_COLUMNS)})"
        )
        problems.append(errors.Problem(line, 1, "", message, filename))
    return problems


def _parse_line(
    line: str, header: list[str], *, at: tuple[str, int], problems: list[errors.Problem]
) -> CatalogRow | None:
    filename, number = at
    cells = next(csv.reader([line]))
    if len(cells) != len(header):
        message = f"has {len(cells)} fields, the header has {len(header)}"
        problems.append(errors.Problem(number, 1, "", message, filename))
        return None
    columns = _columns(line, len(cells))
    values = dict(zip(header, (c.strip() for c in cells), strict=True))
    found: list[errors.Problem] = []
    fields: dict[str, object] = {}
    for name, value in values.items():
        try:
            fields[name] = _FIELD_PARSERS[name](value)
        except ValueError as exc:
            column = columns[header.index(name)]
            found.append(errors.Problem(number, column, name, str(exc), filename))
    if not found:
        try:
            return _build_row(fields)
        except ValueError as exc:
            found.append(errors.Problem(number, 1, "accelerator_count", str(exc), filename))
    problems.extend(found)
    return None


def _columns(line: str, count: int) -> list[int]:
    """1-based character column of each field (exact when the line has no quotes)."""
    if '"' in line:
        return [1] * count
    columns, position = [], 1
    for cell in line.split(","):
        columns.append(position)
        position += len(cell) + 1
    return columns


def _build_row(fields: dict[str, object]) -> CatalogRow:
    accelerator = fields["accelerator"]
    count = fields["accelerator_count"]
    assert isinstance(count, int)
    if accelerator is None and count:
        raise ValueError(f"{count} accelerators given but no accelerator name")
    if accelerator is not None and count < 1:
        raise ValueError(f"accelerator {accelerator} needs accelerator_count >= 1")
    return CatalogRow(**fields)  # type: ignore[arg-type]


def _text(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a name (letters, digits, . _ + -)")
    return value


def _accelerator(value: str) -> str | None:
    if not value:
        return None
    for known in quantity.KNOWN_ACCELERATORS:
        if known.lower() == value.lower():
            return known
    near = quantity.did_you_mean(value, quantity.KNOWN_ACCELERATORS)
    hint = f"; did you mean {near!r}?" if near else ""
    allowed = ", ".join(quantity.KNOWN_ACCELERATORS)
    raise ValueError(f"unknown accelerator {value!r}{hint} (known: {allowed}, or empty)")


def _count(value: str) -> int:
    if not value:
        return 0
    number = _number(value)
    if number != int(number) or not 0 <= number <= 16:
        raise ValueError(f"{value!r} is not an accelerator count (a whole number 0 to 16)")
    return int(number)


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} must be a finite number >= 0")
    return number


def _positive(value: str) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError(f"{value!r} must be more than 0")
    return number


def _optional_price(value: str) -> float | None:
    return _number(value) if value else None


def _optional_date(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date; write YYYY-MM-DD") from None


def _optional_limit(value: str) -> int | None:
    if not value:
        return None
    number = _positive(value)
    if number != int(number):
        raise ValueError(f"{value!r} is not a whole number of instances")
    return int(number)


_FIELD_PARSERS: dict[str, Callable[[str], object]] = {
    "provider": normalize_provider,
    "region": _text,
    "instance_type": _text,
    "accelerator": _accelerator,
    "accelerator_count": _count,
    "vcpus": _positive,
    "memory_gib": _positive,
    "price_hour": _number,
    "spot_price_hour": _optional_price,
    "read_on": _optional_date,
    "max_instances": _optional_limit,
    "source": str,
}
