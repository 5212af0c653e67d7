"""`crosscloud plan FILE`: validate a manifest, choose instance types and placements at the
least hourly cost, show the plan, and optionally write each cluster's Kubernetes manifests."""

from __future__ import annotations

import re
from pathlib import Path

import click

from crosscloud import errors
from crosscloud.adapters.kubernetes import from_plan, render
from crosscloud.cli import plan_inputs, plan_view
from crosscloud.domain import manifest, targets
from crosscloud.planning import from_manifest, placement, plan_checks

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def _check_tag(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not _TAG.match(value):
        raise click.BadParameter(f"{value!r} is not an image tag (letters, digits, _ . -)")
    return value


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
    help="table for people; json or yaml for tools.",
)
@click.option(
    "--render",
    "render_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write DIR/<provider>-<region>.yaml per Kubernetes placement.",
)
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A price catalog CSV that extends the shipped one (its rows win).",
)
@click.option("--replace-catalog", is_flag=True, help="Plan with the --catalog file only.")
@click.option(
    "--image-tag",
    default=from_plan.PLACEHOLDER_TAG,
    show_default=True,
    callback=_check_tag,
    help="Tag of the images of source services in rendered manifests (from crosscloud build).",
)
def plan(
    file: Path,
    output: str,
    render_dir: Path | None,
    catalog_path: Path | None,
    replace_catalog: bool,
    image_tag: str,
) -> None:
    """Validate FILE, plan it at the least $/h and print the plan (exit 2 if it cannot be)."""
    text, doc = plan_inputs.read_manifest(file)
    resources = plan_inputs.service_resources(doc, path=file, text=text)
    rows = plan_inputs.price_rows(doc, user=catalog_path, replace=replace_catalog)
    result = from_manifest.plan_manifest(doc, resources=resources, rows=rows).require()
    cpus, memory_bytes = plan_inputs.this_machine()
    shared = from_manifest.local_sharing(result, resources, cpus=cpus, memory_bytes=memory_bytes)
    notes = [shared] if shared else []
    if render_dir is not None:
        notes += _render(doc, result, resources=resources, into=render_dir, image_tag=image_tag)
    data = plan_view.as_data(
        doc.metadata.name, result, prices={r.key: r for r in rows}, notes=notes
    )
    warnings = plan_checks.replica_bounds(doc)
    data["warnings"] = warnings
    data["spot"] = [
        plan_view.mix_data(m)
        for m in plan_checks.spot_mix(
            doc, result, spot_prices={r.key: r.spot_price_hour for r in rows}
        )
    ]
    if output == "json":
        click.echo(plan_view.to_json(data))
    elif output == "yaml":
        click.echo(plan_view.to_yaml(data), nl=False)
    else:
        plan_view.print_table(data)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def _render(
    doc: manifest.Manifest,
    result: placement.Plan,
    *,
    resources: dict[str, from_manifest.ServiceResources],
    into: Path,
    image_tag: str,
) -> list[str]:
    """Write one YAML file per Kubernetes placement; notes on what was (not) written."""
    found = from_plan.clusters(doc, result, resources=resources, image_tag=image_tag)
    traffic = from_plan.traffic(doc.spec.traffic)
    documents = {
        cluster.placement.key: render.render_placement_yaml(
            deployment=doc.metadata.name,
            placement=cluster.placement,
            services=cluster.services,
            traffic=traffic,
        )
        for cluster in found
    }
    try:
        into.mkdir(parents=True, exist_ok=True)
        for key, text in documents.items():
            (into / f"{key}.yaml").write_text(text, "utf-8")
    except OSError as exc:
        raise errors.UserError(f"{into}: cannot write manifests: {exc.strerror}") from None
    notes = [f"wrote {into / f'{key}.yaml'}" for key in documents]
    notes += [note for cluster in found for note in cluster.notes]
    planned = {a.placement for a in result.assignments}
    local = sorted(p for p in planned if targets.target_of(p) is targets.Target.LOCAL)
    if local:
        notes.append(
            f"{', '.join(local)}: local placements run on this machine (crosscloud up);"
            " nothing to render"
        )
    rendered = {s.name for cluster in found for s in cluster.services}
    by_qps = [
        s.name
        for s in doc.spec.services
        if s.name in rendered and s.scaling.target_qps and s.scaling.target_concurrency is None
    ]
    if by_qps:
        notes.append(
            f"{', '.join(by_qps)}: targetQPS has no HorizontalPodAutoscaler metric; the rendered"
            f" autoscaler scales on {render.DEFAULT_CPU_PERCENT}% CPU"
        )
    built = [s.name for s in doc.spec.services if s.source is not None]
    if built and found and image_tag == from_plan.PLACEHOLDER_TAG:
        notes.append(
            f"images of {', '.join(built)} carry the placeholder tag :{image_tag}; build and"
            " push them with `crosscloud build SOURCE --tag NAME --push --registry REGISTRY`"
            " and render again with --image-tag cc-<hash> (the tag it prints)"
        )
    return notes
