"""`crosscloud chaos link|partition`: rehearse what goes wrong between regions, at run time.

`link` sets an isolated local region's added latency and jitter, `partition` cuts its link
(the host side of its veth pair goes down) or mends it. Both act at once and are recorded
(links.py), so the control plane keeps them until `chaos link REGION --reset` or `down`.
"""

from __future__ import annotations

from typing import Any

import click

from crosscloud import errors
from crosscloud.adapters.local import links, netns
from crosscloud.domain import quantity, regionnet


def _link_duration(_ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = quantity.parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from None
    if seconds > 60:
        raise click.BadParameter(f"{value!r} is over 60s; a link delay is ms to a few s")
    return seconds


def _region(region: str, deployment: str | None) -> tuple[links.Links, str, dict[str, Any]]:
    """The isolated region called `region` (`local/region-b` or `region-b`)."""
    reason = netns.unavailable()
    if reason is not None:
        raise errors.UserError(f"chaos on a region's link needs root and `ip` ({reason})")
    found = links.Links()
    configs = {name: found.config(name) or {} for name in found.owned()}
    want = region if "/" in region else f"local/{region}"
    matches = [
        (name, config)
        for name, config in configs.items()
        if config.get("placement") == want and deployment in (None, config.get("deployment"))
    ]
    if not matches:
        known = sorted(f"{c.get('placement')} ({c.get('deployment')})" for c in configs.values())
        listed = ", ".join(known) or "none (see `network: {isolated: true}` in the manifest)"
        raise errors.UserError(f"no isolated region {region!r} is deployed; isolated: {listed}")
    if len(matches) > 1:
        names = ", ".join(sorted(str(c.get("deployment")) for _, c in matches))
        raise errors.UserError(f"{region} is in several deployments ({names}); add --deployment")
    return found, matches[0][0], matches[0][1]


def _show(config: dict[str, Any], profile: regionnet.LinkProfile) -> None:
    click.echo(f"{config.get('placement')} ({config.get('deployment')}): {profile.describe()}")


@click.command()
@click.argument("region")
@click.option("--latency", callback=_link_duration, help="Added round-trip time, e.g. 80ms.")
@click.option("--jitter", callback=_link_duration, help="Up to this much more or less, e.g. 5ms.")
@click.option("--reset", is_flag=True, help="Back to the manifest's latency and jitter.")
@click.option("--deployment", default=None, help="When REGION is in several deployments.")
def link(
    region: str,
    latency: float | None,
    jitter: float | None,
    reset: bool,
    deployment: str | None,
) -> None:
    """Set REGION's added latency and jitter (no option: show its link)."""
    found, name, config = _region(region, deployment)
    if reset and (latency is not None or jitter is not None):
        raise errors.UserError(
            "--reset goes back to the manifest's link; give no --latency/--jitter"
        )
    if reset:
        found.set_chaos(name, latency=None, jitter=None)
    elif latency is not None or jitter is not None:
        manifest = regionnet.LinkProfile(**config.get("manifest", {}))
        now = found.profile(name, manifest)
        after = (
            now.latency if latency is None else latency,
            now.jitter if jitter is None else jitter,
        )
        if after[1] > after[0]:
            raise errors.UserError(
                f"jitter ({after[1] * 1000:g} ms) must be at most latency ({after[0] * 1000:g} ms)"
            )
        found.set_chaos(name, latency=after[0], jitter=after[1])
    _show(config, found.apply_chaos(name))


@click.command()
@click.argument("region")
@click.argument("switch", type=click.Choice(["on", "off"]))
@click.option("--deployment", default=None, help="When REGION is in several deployments.")
def partition(region: str, switch: str, deployment: str | None) -> None:
    """Cut REGION's link (on) or mend it (off)."""
    found, name, config = _region(region, deployment)
    found.set_chaos(name, partitioned=True if switch == "on" else None)
    _show(config, found.apply_chaos(name))
