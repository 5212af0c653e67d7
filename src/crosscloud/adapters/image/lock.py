"""requirements.lock for an image: every requirement pinned to one version.

The service's own `requirements` and crosscloud's runtime dependencies are pinned: an
`==` pin is kept; a range (`>=3.0`) or bare name is pinned to the version installed here,
the one the service was tried with; a requirement that is neither pinned nor installed is
an error naming it. crosscloud itself comes from the wheel inside the build context.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from crosscloud import errors

# PEP 508, enough of it: name, optional [extras], version spec, optional ; marker.
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    r"(?P<extras>\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*(?:;\s*(?P<marker>.+?))?\s*$"
)
_PINNED = re.compile(r"^===?\s*(?P<version>[A-Za-z0-9.+!_-]+)$")
_RUNTIME_EXTRA = re.compile(r"\bextra\s*==")

Installed = Callable[[str], str | None]


def installed_version(name: str) -> str | None:
    """The version of distribution `name` installed in this interpreter, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def normalize(name: str) -> str:
    """PEP 503 normalized project name: `Sentence_Transformers` -> `sentence-transformers`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One locked line: `name[extras]==version ; marker`."""

    name: str
    version: str
    extras: str = ""
    marker: str = ""

    def __str__(self) -> str:
        line = f"{self.name}{self.extras}=={self.version}"
        return f"{line} ; {self.marker}" if self.marker else line


def pin(requirement: str, *, installed: Installed = installed_version) -> Pin:
    """Pin one requirement string, or raise UserError saying how to pin it by hand."""
    match = _REQUIREMENT.match(requirement)
    if match is None or "@" in requirement.split(";")[0]:
        raise errors.UserError(
            f"requirement {requirement!r} is not a `name[extras] <spec>` requirement;"
            " direct URLs cannot be locked, publish the package or vendor it next to the service"
        )
    name, spec = normalize(match["name"]), match["spec"].replace(" ", "")
    extras, marker = match["extras"] or "", match["marker"] or ""
    exact = _PINNED.match(spec)
    if exact:
        return Pin(name, exact["version"], extras, marker)
    version = installed(name)
    if version is None:
        raise errors.UserError(
            f"requirement {requirement!r} is not pinned and {name} is not installed here to"
            f" pin it from; write it as {name}==<version>"
        )
    return Pin(name, version, extras, marker)


def runtime_requirements() -> list[str]:
    """crosscloud's own runtime dependencies (no extras), as its metadata declares them."""
    try:
        declared = importlib.metadata.requires("crosscloud") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    return [item for item in declared if not _RUNTIME_EXTRA.search(item)]


def lock(
    requirements: Iterable[str],
    *,
    crosscloud_line: str,
    installed: Installed = installed_version,
) -> list[str]:
    """Locked lines: crosscloud's dependencies, then the service's (which win on overlap)."""
    pins: dict[str, Pin] = {}
    for requirement in runtime_requirements():
        item = pin(requirement, installed=installed)
        pins[item.name] = item
    for requirement in requirements:
        item = pin(requirement, installed=installed)
        pins[item.name] = item
    return [crosscloud_line, *(str(pins[name]) for name in sorted(pins))]
