"""`crosscloud build SOURCE --tag REPO[:TAG]`: the service's container image, once per content."""

from __future__ import annotations

from pathlib import Path

import click

from crosscloud.adapters.image import build as image
from crosscloud.adapters.image import context as image_context
from crosscloud.adapters.image import engine as image_engine


@click.command()
@click.argument("source")
@click.option("--tag", "tag", required=True, help="REPO[:TAG]; the image is also tagged cc-<hash>.")
@click.option("--push", is_flag=True, help="Push to each --registry (or to REPO's own host).")
@click.option(
    "--registry",
    "registries",
    multiple=True,
    help="Registry prefix to push to, e.g. 123456789012.dkr.ecr.us-west-2.amazonaws.com"
    " (repeat for each placement's registry).",
)
@click.option("--engine", type=click.Choice(image_engine.ENGINES), default=None)
@click.option("--base", default=image_context.DEFAULT_BASE, show_default=True)
@click.option(
    "--no-install",
    is_flag=True,
    help="The base already holds crosscloud and the requirements: no RUN step.",
)
@click.option(
    "--context-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the build context here (kept) instead of a temporary folder.",
)
@click.option(
    "--storage-driver", default=None, help="podman/buildah storage driver (e.g. vfs in CI)."
)
def build(
    source: str,
    tag: str,
    push: bool,
    registries: tuple[str, ...],
    engine: image_engine.EngineName | None,
    base: str,
    no_install: bool,
    context_dir: Path | None,
    storage_driver: str | None,
) -> None:
    """Build SOURCE (path.py[:Class]) into an image; unchanged sources are not rebuilt."""
    repository = image.Repository.parse(tag)
    global_args = ("--storage-driver", storage_driver) if storage_driver else ()
    chosen = image_engine.detect(engine, global_args=global_args)
    result = image.build(
        source,
        repository=repository,
        engine=chosen,
        registries=registries,
        push=push,
        base=base,
        install=not no_install,
        keep_context=context_dir,
        say=lambda line: click.echo(line, err=True),
    )
    for ref in result.pushed:
        click.echo(f"pushed {ref}", err=True)
    for ref in result.already_pushed:
        click.echo(f"already pushed {ref}", err=True)
    click.echo(result.image)
