"""`crosscloud token create|list|revoke`: API tokens for a deployment's services.

A deployment's services are open on the gateway (which listens on 127.0.0.1) until its
first token is created; from then on each request needs `Authorization: Bearer <token>`,
even after every token is revoked. The token is printed once and never stored."""

from __future__ import annotations

import time

import click
import orjson
from rich.console import Console
from rich.table import Table

from crosscloud import errors
from crosscloud.cli import controlplane_client, deploy_cmds


def _control_plane(*, write: bool = True) -> controlplane_client.ControlPlane:
    cp = controlplane_client.connect(start=deploy_cmds._has_state(), write=write)
    if cp is None:
        raise errors.UserError("nothing is deployed; run `crosscloud up FILE` first")
    return cp


@click.group()
def token() -> None:
    """Create, list and revoke API tokens that the gateway checks per request."""


@token.command()
@click.argument("deployment")
@click.option("--name", default=None, help="A label to tell tokens apart (e.g. ci, alice).")
@click.option(
    "--service",
    "services",
    multiple=True,
    help="Only this service (repeatable); default: every service of DEPLOYMENT.",
)
def create(deployment: str, name: str | None, services: tuple[str, ...]) -> None:
    """Create a token for DEPLOYMENT and print it (once: it cannot be shown again)."""
    made = _control_plane().post(
        "/v1/tokens", {"deployment": deployment, "name": name, "services": list(services)}
    )
    scope = ", ".join(made["services"]) or "every service"
    click.echo(
        f"created token {made['id']} ({made['name']}) for {deployment}: {scope}.\n"
        "Send it as `Authorization: Bearer <token>`; it is shown only now:",
        err=True,
    )
    click.echo(made["token"])


@token.command(name="list")
@click.option("--deployment", default=None, help="Only this deployment's tokens.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def list_(deployment: str | None, output: str) -> None:
    """Tokens with their id, name, services, creation time and last 4 characters."""
    query = {"deployment": deployment} if deployment else {}
    found = _control_plane(write=False).get("/v1/tokens", **query)["tokens"]
    if output == "json":
        click.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return
    if not found:
        click.echo("no tokens: every service is open (`crosscloud token create DEPLOYMENT`)")
        return
    grid = Table(title="API tokens", title_justify="left")
    for column in ("id", "deployment", "name", "services", "created", "ends with", "state"):
        grid.add_column(column)
    for t in found:
        grid.add_row(
            t["id"],
            t["deployment"],
            t["name"],
            ", ".join(t["services"]) or "all",
            _when(t["created_at"]),
            f"…{t['last4']}",
            "active" if t["revoked_at"] is None else f"revoked {_when(t['revoked_at'])}",
        )
    Console(width=None if Console().is_terminal else 120).print(grid)


@token.command()
@click.argument("token_id", metavar="ID")
def revoke(token_id: str) -> None:
    """Revoke token ID: the gateway refuses it from its next config push (under a second)."""
    result = _control_plane().post("/v1/tokens/revoke", {"id": token_id})
    click.echo(result["message"])


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
