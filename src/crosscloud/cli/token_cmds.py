"""`crosscloud token create|update|list|revoke`: API tokens for a deployment's services,
and their quotas (requests per second with a burst, concurrent requests, tokens per minute).

A deployment's services are open on the gateway (which listens on 127.0.0.1) until its
first token is created; from then on each request needs `Authorization: Bearer <token>`,
even after every token is revoked. The token is printed once and never stored."""

from __future__ import annotations

import time
from collections.abc import Callable

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


def _quota_options(command: Callable[..., None]) -> Callable[..., None]:
    """--rps, --burst, --concurrency, --tokens-per-minute: the token's quota (unset: none)."""
    options = [
        click.option(
            "--rps",
            type=click.FloatRange(min=0, min_open=True),
            help="Requests per second this token may send (past it: 429 with Retry-After).",
        ),
        click.option(
            "--burst",
            type=click.IntRange(min=1),
            help="Requests it may send at once above --rps (default: one second's worth).",
        ),
        click.option(
            "--concurrency", type=click.IntRange(min=1), help="Requests in flight at once."
        ),
        click.option(
            "--tokens-per-minute",
            "tpm",
            type=click.IntRange(min=1),
            help="Model tokens per minute, where the gateway counts them (answers' usage).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _quota(**given: float | int | None) -> dict[str, float | int]:
    names = {"rps": "rps", "burst": "burst", "concurrency": "concurrency", "tpm": "tokensPerMinute"}
    return {names[k]: v for k, v in given.items() if v is not None}


@token.command()
@click.argument("deployment")
@click.option("--name", default=None, help="A label to tell tokens apart (e.g. ci, alice).")
@click.option(
    "--service",
    "services",
    multiple=True,
    help="Only this service (repeatable); default: every service of DEPLOYMENT.",
)
@_quota_options
@click.option(
    "--residency",
    default=None,
    metavar="ZONE",
    help="Keep every request with this token in this zone of spec.traffic.residency.",
)
def create(
    deployment: str,
    name: str | None,
    services: tuple[str, ...],
    rps: float | None,
    burst: int | None,
    concurrency: int | None,
    tpm: int | None,
    residency: str | None,
) -> None:
    """Create a token for DEPLOYMENT and print it (once: it cannot be shown again)."""
    body: dict[str, object] = {"deployment": deployment, "name": name, "services": list(services)}
    body["quota"] = _quota(rps=rps, burst=burst, concurrency=concurrency, tpm=tpm)
    body["residency"] = residency
    made = _control_plane().post("/v1/tokens", body)
    scope = ", ".join(made["services"]) or "every service"
    if made.get("residency"):
        scope += f"; residency zone {made['residency']} only"
    click.echo(
        f"created token {made['id']} ({made['name']}) for {deployment}: {scope}.\n"
        "Send it as `Authorization: Bearer <token>`; it is shown only now:",
        err=True,
    )
    click.echo(made["token"])


@token.command()
@click.argument("token_id", metavar="ID")
@_quota_options
@click.option("--unlimited", is_flag=True, help="Remove every limit first.")
def update(
    token_id: str,
    rps: float | None,
    burst: int | None,
    concurrency: int | None,
    tpm: int | None,
    unlimited: bool,
) -> None:
    """Change token ID's quota: the limits given replace those it had (the gateway applies
    them within a second); `--unlimited` alone removes them all."""
    quota: dict[str, object] = dict(_quota(rps=rps, burst=burst, concurrency=concurrency, tpm=tpm))
    if not quota and not unlimited:
        raise errors.UserError(
            "nothing to change: give --rps, --burst, --concurrency,"
            " --tokens-per-minute or --unlimited"
        )
    if unlimited:
        quota["clear"] = True
    result = _control_plane().post("/v1/tokens/update", {"id": token_id, "quota": quota})
    click.echo(result["message"])


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
    for column in (
        "id",
        "deployment",
        "name",
        "services",
        "quota",
        "zone",
        "created",
        "ends with",
        "state",
    ):
        grid.add_column(column)
    for t in found:
        grid.add_row(
            t["id"],
            t["deployment"],
            t["name"],
            ", ".join(t["services"]) or "all",
            ", ".join(f"{k} {v}" for k, v in t.get("quota", {}).items()) or "none",
            t.get("residency") or "any",
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
