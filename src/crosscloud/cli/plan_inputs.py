"""What `crosscloud plan` reads from disk: the manifest, each service's class (for its
declared resources), the price catalog, and this machine (what local regions offer)."""

from __future__ import annotations

from pathlib import Path

from crosscloud import errors
from crosscloud.adapters.clouds import catalog as catalog_files
from crosscloud.domain import catalog, manifest, yamlpos
from crosscloud.planning import from_manifest
from crosscloud.sdk import loader


def read_manifest(path: Path) -> tuple[str, manifest.Manifest]:
    """The manifest's text and model; UserError if unreadable, ManifestError if invalid."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise errors.UserError(f"{path}: cannot read the manifest: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise errors.UserError(f"{path}: the manifest is not UTF-8 text") from None
    return text, manifest.load_manifest(text, str(path))


def service_resources(
    doc: manifest.Manifest, *, path: Path, text: str
) -> dict[str, from_manifest.ServiceResources]:
    """Each service's per-replica resources: its class's `resources` (sources are paths
    relative to the manifest's folder) under the manifest's overrides; images use defaults."""
    out = {}
    for i, service in enumerate(doc.spec.services):
        declared = None
        if service.source is not None:
            declared = _declared(service, index=i, path=path, text=text)
        out[service.name] = from_manifest.effective_resources(service, declared)
    return out


def _declared(
    service: manifest.ServiceSpec, *, index: int, path: Path, text: str
) -> from_manifest.ServiceResources | None:
    """The class's resources, or None when the manifest overrides all of them (not loaded)."""
    over = service.resources
    if over is not None and None not in (over.cpu, over.memory, over.accelerators):
        return None
    source = str(service.source)
    target, colon, class_name = source.partition(":")
    if target.endswith(".py") or "/" in target:
        source = f"{path.parent / target}{colon}{class_name}"
    try:
        resources = loader.load(source).resources
    except errors.UserError as exc:
        raise _at_source(text, path=path, index=index, message=f"{service.name}: {exc}") from None
    return from_manifest.ServiceResources(
        cpu=resources.cpu, memory_bytes=resources.memory, accelerators=resources.accelerators
    )


def _at_source(text: str, *, path: Path, index: int, message: str) -> errors.ManifestError:
    where: yamlpos.Path = ("spec", "services", index, "source")
    mark = yamlpos.parse(text, str(path)).mark_of(where)
    problem = errors.Problem(mark.line, mark.column, yamlpos.format_path(where), message, str(path))
    return errors.ManifestError([problem])


def this_machine() -> tuple[float, int]:
    """This machine's usable CPUs and memory bytes (what a local region offers)."""
    row = catalog_files.this_machine(("local",))[0]
    return row.vcpus, row.memory_bytes


def price_rows(
    doc: manifest.Manifest, *, user: Path | None, replace: bool
) -> list[catalog.CatalogRow]:
    """The shipped catalog (extended or replaced by `user`) plus this machine in each local
    region the manifest uses; user rows for a local region win over this machine."""
    rows = catalog_files.load(user, replace=replace, local_regions=())
    cpus, memory_bytes = this_machine()
    local = from_manifest.local_offers(
        from_manifest.local_regions(doc), cpus=cpus, memory_bytes=memory_bytes
    )
    return catalog.merge(local, rows)
