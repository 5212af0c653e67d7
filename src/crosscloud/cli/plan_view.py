"""How `crosscloud plan` shows a plan: a rich table for people, JSON or YAML for machines."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from crosscloud.domain import catalog
from crosscloud.planning import placement, plan_checks

Prices = Mapping[tuple[str, str, str], catalog.CatalogRow]


def as_data(
    deployment: str, result: placement.Plan, *, prices: Prices, notes: list[str]
) -> dict[str, Any]:
    """The plan as plain data (USD per hour; `hourly` is what each line is billed)."""
    return {
        "deployment": deployment,
        "currency": "USD",
        "hourly": result.hourly,
        "services": [
            {"name": s.service, "replicas": s.replicas, "hourly": s.hourly} for s in result.services
        ],
        "assignments": [_line(a, prices) for a in result.assignments],
        "notes": notes,
    }


def _line(item: placement.Assignment, prices: Prices) -> dict[str, Any]:
    row = prices.get((item.provider, item.region, item.instance_type))
    spot = row.spot_price_hour if row is not None else item.spot_hour
    return {
        "service": item.service,
        "placement": item.placement,
        "instance_type": item.instance_type,
        "accelerator": str(item.accelerator) if item.accelerator else None,
        "instances": item.instances,
        "replicas": item.replicas,
        "on_demand_hour": item.on_demand_hour,
        "spot_hour": spot,
        "billed": "spot" if item.spot else "on-demand",
        "hourly": item.hourly,
    }


def to_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


def to_yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=True, default_flow_style=False)


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def table(data: Mapping[str, Any]) -> Table:
    """One line per assignment and a total line; spot prices actually billed are marked *."""
    out = Table(title=f"plan for {data['deployment']} (USD per hour)", title_justify="left")
    for name in ("service", "placement", "instance type", "accelerators"):
        out.add_column(name)
    for name in ("replicas", "instances", "$/h on-demand", "$/h spot", "total $/h"):
        out.add_column(name, justify="right")
    for line in data["assignments"]:
        spot = _usd(line["spot_hour"]) + ("*" if line["billed"] == "spot" else "")
        out.add_row(
            line["service"],
            line["placement"],
            line["instance_type"],
            line["accelerator"] or "-",
            str(line["replicas"]),
            str(line["instances"]),
            _usd(line["on_demand_hour"]),
            spot,
            _usd(line["hourly"]),
        )
    replicas = sum(line["replicas"] for line in data["assignments"])
    out.add_section()
    out.add_row("total", "", "", "", str(replicas), "", "", "", _usd(data["hourly"]))
    if any(line["billed"] == "spot" for line in data["assignments"]):
        out.caption = "* billed at the spot price (placement or optimizer allows spot)"
        out.caption_justify = "left"
    return out


def print_table(data: Mapping[str, Any]) -> None:
    """The table on stdout; wide enough not to wrap when piped to a file."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table(data))
    for mix in data.get("spot", ()):
        console.print(spot_line(mix), highlight=False, soft_wrap=True)


def mix_data(mix: plan_checks.SpotMix) -> dict[str, Any]:
    """A spot service's steady mix as plain data (USD per hour)."""
    return {
        "service": mix.service,
        "spot": mix.spot,
        "on_demand": mix.on_demand,
        "hourly": mix.hourly,
        "all_on_demand_hourly": mix.all_on_demand,
    }


def spot_line(mix: Mapping[str, Any]) -> str:
    """`spot embedder: 3 spot (a 1, b 1, c 1) + 1 on-demand (a 1): $1.23/h, all on-demand
    $3.45/h (0.36x)`."""

    def where(counts: Mapping[str, int]) -> str:
        return ", ".join(f"{k} {n}" for k, n in counts.items())

    spot_n, od_n = sum(mix["spot"].values()), sum(mix["on_demand"].values())
    ratio = mix["hourly"] / mix["all_on_demand_hourly"] if mix["all_on_demand_hourly"] else None
    shown = f" ({ratio:.2f}x)" if ratio is not None else ""
    demand = f" ({where(mix['on_demand'])})" if od_n else ""
    return (
        f"spot {mix['service']}: {spot_n} spot ({where(mix['spot'])}) + {od_n} on-demand{demand}:"
        f" ${mix['hourly']:.4f}/h expected once spot is ready,"
        f" all on-demand ${mix['all_on_demand_hourly']:.4f}/h{shown}"
    )
