"""`crosscloud ca show|rotate|import`: the deployment's certificate authority.

The CA lives in the state directory (`$CROSSCLOUD_HOME/ca`, 0700, keys 0600). A running
control plane notices a new root on its next pass: it sends the trust bundle (old and new
roots) to every process at once, re-issues every certificate from the new root once that
root signs, and drops the old root from the bundle when the overlap ends."""

from __future__ import annotations

import time
from pathlib import Path

import click
import orjson

from crosscloud import errors
from crosscloud.adapters import paths
from crosscloud.adapters.security import ca as camod
from crosscloud.domain import identity, quantity
from crosscloud.planning import certs


def _duration(_ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return quantity.parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from None


_OVERLAP = click.option(
    "--overlap",
    default="1h",
    show_default=True,
    callback=_duration,
    help="How long the old root stays trusted after the new one starts signing.",
)
_PROPAGATION = click.option(
    "--propagation",
    default=f"{certs.DEFAULT_PROPAGATION:g}s",
    show_default=True,
    callback=_duration,
    help="How long the new root is only trusted, before it signs (time to reach every process).",
)


@click.group()
def ca() -> None:
    """Show, rotate or import the root of the deployment's certificate authority."""


@ca.command()
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def show(output: str) -> None:
    """The trust domain and each root: id, subject, expiry, SHA-256, status."""
    found = camod.Authority.read(paths.ca_dir())
    if found is None:
        raise errors.UserError(
            f"no CA in {paths.ca_dir()} yet: `crosscloud up` creates one, or"
            " `crosscloud ca import` brings yours"
        )
    roots = found.describe(now=time.time())
    if output == "json":
        data = {
            "trustDomain": found.trust_domain,
            "directory": str(found.directory),
            "roots": roots,
        }
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"trust domain  {found.trust_domain}")
    click.echo(f"directory     {found.directory}")
    for root in roots:
        click.echo(f"root {root['id']}  {root['status']}")
        click.echo(f"  subject   {root['subject']}")
        click.echo(f"  expires   {root['notAfter']}")
        click.echo(f"  sha256    {root['sha256']}")


@ca.command()
@_OVERLAP
@_PROPAGATION
def rotate(overlap: float, propagation: float) -> None:
    """Make a new root; certificates move to it with no failed request."""
    now = time.time()
    authority = camod.Authority.open(paths.ca_dir(), now=now)
    new = authority.rotate(now=now, propagation=propagation, overlap=overlap)
    click.echo(
        f"new root {new.id}: trusted now, signs in {propagation:g}s; the old root stays"
        f" trusted {overlap:g}s after that",
        err=True,
    )


@ca.command(name="import")
@click.option("--cert", "cert", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--trust-domain",
    default=None,
    help=f"For a new CA only (default {identity.DEFAULT_TRUST_DOMAIN}).",
)
@_OVERLAP
@_PROPAGATION
def import_(
    cert: str, key: str, trust_domain: str | None, overlap: float, propagation: float
) -> None:
    """Use your CA (or an intermediate of it): CERT and KEY in PEM; the key is kept 0600."""
    now = time.time()
    directory = paths.ca_dir()
    authority = camod.Authority.read(directory)
    if authority is None:
        try:
            domain = identity.check_trust_domain(trust_domain or identity.DEFAULT_TRUST_DOMAIN)
        except ValueError as exc:
            raise errors.UserError(str(exc)) from None
        authority = camod.Authority(directory, domain, [])
    elif trust_domain is not None and trust_domain != authority.trust_domain:
        raise errors.UserError(
            f"the CA's trust domain is {authority.trust_domain!r}; it cannot change on import"
        )
    new = authority.import_root(
        Path(cert).read_bytes(),
        Path(key).read_bytes(),
        now=now,
        propagation=propagation,
        overlap=overlap,
    )
    click.echo(f"imported root {new.id}; it signs in {propagation:g}s", err=True)
