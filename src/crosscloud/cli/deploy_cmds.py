"""`crosscloud up / rollout / scale / down`: submit to the control plane and wait."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from crosscloud import errors
from crosscloud.adapters import paths
from crosscloud.adapters.clouds import catalog as catalog_files
from crosscloud.adapters.store import sqlite_file as store_file
from crosscloud.cli import controlplane_client, network_view, status_view
from crosscloud.controlplane import operations, records, recovery
from crosscloud.domain import manifest


def _read(file: str) -> tuple[str, manifest.Manifest]:
    try:
        text = Path(file).read_text()
    except OSError as exc:
        raise errors.UserError(f"cannot read {file}: {exc.strerror}") from None
    return text, manifest.load_manifest(text, file)  # checked here: a bad file starts nothing


def _control_plane(spec: manifest.Manifest | None = None) -> controlplane_client.ControlPlane:
    wanted = spec.spec.state.url if spec is not None else None
    if wanted and not os.environ.get(paths.STATE_URL_ENV):
        os.environ[paths.STATE_URL_ENV] = wanted
    cp = controlplane_client.connect(start=True, write=True)
    assert cp is not None
    loose = store_file.loose_mode(paths.home())
    if loose:
        click.echo(
            f"warning: state directory {paths.home()} is mode {loose}: other users can read"
            f" its logs (its database is 0600); `chmod 700 {paths.home()}`",
            err=True,
        )
    return cp


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for ready.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A price catalog CSV for `crosscloud cost` (extends the shipped one, as in plan).",
)
def up(file: str, timeout: float, wait: bool, catalog_path: Path | None) -> None:
    """Deploy FILE (a CloudDeployment) and wait until every placement is ready."""
    _submit(file, timeout=timeout, wait=wait, verb="up", catalog_path=catalog_path)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait.")
def rollout(file: str, timeout: float) -> None:
    """Roll out a changed FILE or service source: replicas are replaced one at a time."""
    _submit(file, timeout=timeout, wait=True, verb="rollout")


def _submit(
    file: str, *, timeout: float, wait: bool, verb: str, catalog_path: Path | None = None
) -> None:
    text, spec = _read(file)
    path = str(Path(file).resolve())
    body = {"text": text, "path": path}
    if catalog_path is not None:  # else the catalog stored with the deployment stays
        catalog_files.read(catalog_path)  # a bad line is named here, before anything starts
        body["catalog"] = catalog_path.read_text("utf-8")
    # what the control plane would refuse (missing extras included) starts nothing
    operations.check_runnable(spec, records.Submitted(text=text, path=path))
    cp = _control_plane(spec)
    result = cp.post("/v1/apply", body)
    name, version = result["deployment"], result["version"]
    what = f"version {version}" + ("" if result["changed"] else " (unchanged)")
    click.echo(f"{verb}: {name} {what}", err=True)
    if wait:
        _wait(cp, name, version, timeout)


def _wait(cp: controlplane_client.ControlPlane, name: str, version: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with status_view.progress() as show:
        while True:
            dep = _deployment(cp.get("/v1/status"), name)
            done, lines = status_view.rollout_state(dep, version)
            show(lines)
            if done:
                break
            if status_view.halted(dep, version):
                raise errors.CrossCloudError(status_view.not_ready_report(dep, version, None))
            if time.monotonic() > deadline:
                raise errors.CrossCloudError(status_view.not_ready_report(dep, version, timeout))
            time.sleep(0.3)
    status = cp.get("/v1/status")
    click.echo(f"ready: {name} version {version}; gateway {status['gateway']['url']}", err=True)
    for message in status_view.unreachable(_deployment(status, name)).values():
        click.echo(f"warning: {message}; the control plane keeps trying", err=True)
    for line in network_view.fallbacks(_deployment(status, name)):
        click.echo(f"note: {line}", err=True)
    auth = _deployment(status, name).get("auth") or {}
    if auth.get("mode") == "token" and not auth.get("active_tokens"):
        click.echo(
            f"warning: {name} refuses every request (401): it has had API tokens and none is"
            f" active; `crosscloud token create {name}`",
            err=True,
        )


def _deployment(status: dict[str, Any], name: str) -> dict[str, Any]:
    for dep in status["deployments"]:
        if dep["name"] == name:
            return dict(dep)
    raise errors.CrossCloudError(f"deployment {name!r} disappeared")


@click.command()
@click.argument("service")
@click.argument("replicas", type=click.IntRange(0))
@click.option("--placement", default=None, help="provider/region, e.g. local/region-a")
def scale(service: str, replicas: int, placement: str | None) -> None:
    """Set SERVICE's replica count in one placement (until the next `up` of its manifest)."""
    cp = controlplane_client.connect(start=_has_state(), write=True)
    if cp is None:
        raise errors.UserError("nothing is deployed; run `crosscloud up FILE` first")
    result = cp.post(
        "/v1/scale", {"service": service, "replicas": replicas, "placement": placement}
    )
    click.echo(f"scaled {result['service']} in {result['placement']} to {result['replicas']}")


@click.command()
@click.argument("deployment", required=False)
@click.option(
    "--force",
    is_flag=True,
    help="When the control plane or its state database cannot: stop every process of the"
    " state directory found by its marks, and set a corrupt or vanished database aside.",
)
def down(deployment: str | None, force: bool) -> None:
    """Stop every replica and the gateway of DEPLOYMENT (default: all); no process is left."""
    if force:
        _force_down(deployment)
        return
    _down(deployment, timeout=120.0)


def _force_down(deployment: str | None) -> None:
    if deployment is not None:
        raise errors.UserError(
            "--force stops everything of the state directory: name no deployment"
        )
    try:
        _down(None, timeout=30.0)  # the orderly way first, when it works
    except errors.CrossCloudError as exc:
        click.echo(f"the control plane cannot: {exc}", err=True)
    for line in recovery.force_down(paths.home()):
        click.echo(line)


def _down(deployment: str | None, *, timeout: float) -> None:
    cp = controlplane_client.connect(start=_has_state(), timeout=timeout, write=True)
    if cp is None:
        click.echo("nothing is running; nothing to do")
        return
    result = cp.post("/v1/down", {"deployment": deployment})
    stopped = len(result["stopped"])
    click.echo(result["message"] + (f" ({stopped} replica(s) stopped)" if stopped else ""))
    for line in result.get("clusters", []):
        click.echo(line)
    if result.get("tokens_kept"):
        click.echo(
            f"{result['tokens_kept']} API token(s) kept: the deployment needs them again if it"
            " comes back (`crosscloud token revoke ID` ends one)"
        )


def _has_state() -> bool:
    """Whether there may be something to manage (so a crashed control plane restarts, and
    says so when its database vanished: the guard beside it outlives it)."""
    db = paths.home() / "state.db"
    return bool(os.environ.get(paths.STATE_URL_ENV)) or any(
        path.exists() for path in (db, store_file.guard_path(db))
    )
