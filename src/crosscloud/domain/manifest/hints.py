"""The list form to write instead of `provider`/`region`/`services` repeated under `spec`
(the seed's invalid YAML), built from the values the user wrote, fixed where they are
wrong (an Azure name for `us-east-1`, a compute type instead of `Aurora`)."""

from __future__ import annotations

from crosscloud.domain import providers, regions
from crosscloud.domain.manifest import names
from crosscloud.domain.yamlpos import Duplicate

_INDENT = "    "
_STATE_URL = '"postgresql://user@aurora-host:5432/crosscloud"'
_DATABASES = {"aurora", "rds", "postgres", "postgresql"}


def placements_hint(group: list[Duplicate]) -> str:
    """` Write ... instead:` and an indented YAML block, one list item per placement."""
    values = {d.key: d.values for d in group}
    count = max(len(v) for v in values.values())
    services: list[str] = []
    database = False
    body: list[str] = []
    for i in range(count):
        placed, uses_database = _services(_pick(values, "services", i))
        services += [n for n in placed if n not in services]
        database = database or uses_database
        body += _placement(_pick(values, "provider", i), _pick(values, "region", i), placed)
    head = ["spec:", "  services:"]
    for name in services or ["my-model"]:
        head += [f"    - name: {name}", f"      source: ./service.py:{_class_name(name)}"]
    tail = [f"  state: {{url: {_STATE_URL}}}  # Aurora is a database: it keeps the state"]
    lines = [*head, "  placements:", *body, *(tail if database else [])]
    text = "\n".join(_INDENT + line for line in lines)
    return f". Write one list item per placement instead:\n{text}"


def _pick(values: dict[str, tuple[object, ...]], key: str, index: int) -> object:
    found = values.get(key, ())
    return found[index] if index < len(found) else None


def _services(value: object) -> tuple[list[str], bool]:
    """Service names in a seed `services` list, and whether one had a database type."""
    found: list[str] = []
    database = False
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            if isinstance(item.get("name"), str):
                found.append(item["name"])
            database = database or str(item.get("type", "")).lower() in _DATABASES
    return found, database


def _placement(provider_text: object, region: object, placed: list[str]) -> list[str]:
    found = providers.find(str(provider_text))
    provider = found.name if found else None
    lines = [f"    - provider: {provider or provider_text}"]
    if region is not None:
        lines.append(f"      region: {_region(provider, str(region))}")
    kind = found.cluster_type if found else " | ".join(names.CLUSTER_TYPES.values())
    lines.append(f"      type: {kind}")
    if found is None or found.kubernetes is not None:
        lines.append("      context: <kubeconfig context>")
    if placed:
        lines.append(f"      services: [{', '.join('{name: ' + n + '}' for n in placed)}]")
    return lines


def _region(provider: str | None, region: str) -> str:
    if provider is None or regions.is_valid(provider, region):
        return region
    near = regions.nearest(provider, region)
    if not near:
        return f"{region}  # not {regions.label(provider)} region"
    return f"{near[0]}  # {region!r} is not {regions.label(provider)} region"


def _class_name(service: str) -> str:
    return "".join(part.capitalize() for part in service.split("-")) or "Service"
