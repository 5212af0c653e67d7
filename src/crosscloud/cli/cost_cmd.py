"""`crosscloud cost`: what the replicas cost, from the control plane's ledger, by service,
placement, cloud, deployment or API token, with cost per 1,000 requests (and per million
model tokens where the gateway counts them)."""

from __future__ import annotations

import time
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from crosscloud.cli import controlplane_client, deploy_cmds

BY = ("service", "placement", "cloud", "deployment", "token")


@click.command()
@click.option("--by", type=click.Choice(BY), default="service", show_default=True)
@click.option("--since", default="24h", show_default=True, help="How far back: e.g. 90m, 24h, 7d.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def cost(by: str, since: str, output: str) -> None:
    """US dollars spent on replicas (lifetime x placement price) over a window."""
    cp = controlplane_client.connect(start=deploy_cmds._has_state())
    if cp is None:
        report: dict[str, Any] = {"currency": "USD", "by": by, "total": 0.0, "hourly": 0.0}
        report["rows"] = []
    else:
        report = dict(cp.get("/v1/cost", by=by, since=since))
    if output == "json":
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(_headline(report, since))
    if report["rows"]:
        Console(width=None if Console().is_terminal else 120).print(_table(report))


def _headline(report: dict[str, Any], since: str) -> str:
    start = report.get("since")
    when = time.strftime(" (from %Y-%m-%d %H:%M)", time.localtime(start)) if start else ""
    return (
        f"${report['total']:.2f} over the last {since}{when};"
        f" running now: ${report['hourly']:.4f}/h"
    )


def _table(report: dict[str, Any]) -> Table:
    grid = Table(title=f"cost by {report['by']}", title_justify="left")
    columns = ("cost", "$/h now", "requests", "tokens", "$/1k req", "$/1M tokens")
    for column in (report["by"], *columns):
        grid.add_column(column, justify="left" if column == report["by"] else "right")
    for row in report["rows"]:
        key = row["key"] or "(none)"
        if report["by"] == "token" and row.get("name"):
            key = f"{key} ({row['name']})" if row["key"] else row["name"]
        grid.add_row(
            key,
            f"${row['cost']:.4f}",
            f"${row['hourly']:.4f}" if row["hourly"] else "",
            "" if row["requests"] is None else str(row["requests"]),
            str(row["tokens"]) if row.get("tokens") else "",
            _usd(row["per_1k_requests"]),
            _usd(row["per_million_tokens"]),
        )
    return grid


def _usd(value: float | None) -> str:
    return "" if value is None else f"${value:.4f}"
