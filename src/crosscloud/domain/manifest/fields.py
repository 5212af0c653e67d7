"""Field types of the manifest: names, providers, cluster types, durations, quantities.

Each type parses what users write (`AWS`, `30s`, `4Gi`, `A100:2`) into one canonical
value, refuses anything else with a message naming the value and what is allowed, and
declares the JSON Schema editors should check it with.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)

from crosscloud.domain import providers, quantity, regions
from crosscloud.domain.manifest import names

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _spellings(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        out += [name, name.upper(), name.capitalize()]
    return list(dict.fromkeys(out))


def check_dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use at most 63 lowercase letters, digits and '-',"
            " starting with a letter and not ending with '-' (a DNS-1123 label)"
        )
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(
            f"{value!r} is not an environment variable name: use letters, digits and '_',"
            " not starting with a digit"
        )
    return value


def _env_value(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise ValueError("an environment value must be text or a number, not a list or mapping")


def _argument(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # `--port, 8080` in YAML
    if isinstance(value, str) and "\0" not in value:
        return value
    raise ValueError("a command-line argument must be text or a number")


def _quantity(kind: str, parse: Callable[[Any], float]) -> Callable[[object], float]:
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{_show(value)} is not {kind}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} is not {kind}")
        return parse(value)

    return check


def _memory(value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{_show(value)} is not a memory quantity; write e.g. 512Mi or 4Gi")
    return quantity.parse_memory(value)


def _accelerators(value: object) -> tuple[quantity.Accelerator, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{_show(value)} is not an accelerator; write NAME[:COUNT] like A100:2")
    return tuple(quantity.parse_accelerator(i) for i in items)


def _failover(value: object) -> str:
    provider, _, region = value.partition("/") if isinstance(value, str) else ("", "", "")
    if not region:
        raise ValueError(f"{_show(value)} is not provider/region (like aws/us-west-2)")
    return f"{names.normalize_provider(provider)}/{region.strip()}"


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_region_any(value: str) -> str:
    provider, _, region = value.partition("/")
    if region:
        provider = names.normalize_provider(provider)
        if not regions.is_valid(provider, region):
            raise ValueError(regions.describe(provider, region))
        return f"{provider}/{region}"
    clouds = [p for p in providers.PROVIDERS if p.regions]
    if not any(value in p.regions for p in clouds):
        near = quantity.did_you_mean(value, [name for p in clouds for name in p.regions])
        hint = f"; did you mean {near!r}?" if near else ""
        raise ValueError(
            f"{value!r} is not a region of {providers.listed(p.name for p in clouds)}{hint}"
            " (for a local region write local/NAME, like local/region-a)"
        )
    return value


DURATION_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
        {"type": "number", "minimum": 0},
    ],
    "description": "A duration: 250ms, 30s, 5m, 1h, 1h30m, or a number of seconds.",
}
SIZE_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\d+(\.\d+)?([KMGTP]i|[kMGTP])?$"},
        {"type": "integer", "minimum": 1},
    ]
}

Provider = Annotated[
    str,
    BeforeValidator(names.normalize_provider),
    WithJsonSchema({"enum": _spellings(list(names.PROVIDER_ALIASES))}),
]
ClusterType = Annotated[
    str,
    BeforeValidator(names.normalize_cluster_type),
    WithJsonSchema({"enum": _spellings(list(names.CLUSTER_TYPES))}),
]
DnsLabel = Annotated[
    str,
    AfterValidator(check_dns_label),
    WithJsonSchema({"type": "string", "pattern": _DNS_LABEL.pattern, "maxLength": 63}),
]
#: An OpenAI model name as clients send it (`"model"`): printable, no spaces, <= 256.
ModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[!-~\u00a0-\U0010ffff]+$")
]
EnvName = Annotated[
    str,
    AfterValidator(_env_name),
    WithJsonSchema({"type": "string", "pattern": _ENV_NAME.pattern}),
]
EnvValue = Annotated[
    str,
    BeforeValidator(_env_value),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]
Argument = Annotated[
    str,
    BeforeValidator(_argument),
    WithJsonSchema({"type": ["string", "number"]}),
]
Duration = Annotated[
    float,
    PlainValidator(_quantity("a duration; write e.g. 30s, 5m or 1h", quantity.parse_duration)),
    WithJsonSchema(DURATION_SCHEMA),
]
Cpu = Annotated[
    float,
    PlainValidator(
        _quantity("a CPU quantity; write cores like 2, 0.5 or 500m", quantity.parse_cpu)
    ),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": r"^\d+(\.\d+)?m?$"}, {"type": "number"}]}
    ),
]
Memory = Annotated[
    int,
    PlainValidator(_memory),
    WithJsonSchema(SIZE_SCHEMA),
]
Accelerators = Annotated[
    tuple[quantity.Accelerator, ...],
    PlainValidator(_accelerators),
    PlainSerializer(lambda accs: [str(a) for a in accs]),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": "NAME[:COUNT], like A100:2 or H100-80GB:8",
        }
    ),
]
FailoverEntry = Annotated[
    str,
    BeforeValidator(_failover),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]+/[-a-z0-9]+$"}),
]
RegionChoice = Annotated[
    str,
    AfterValidator(_check_region_any),
    WithJsonSchema({"type": "string", "description": "region, or provider/region"}),
]
