"""Container registry addresses: which cloud's registry a prefix names, checked against
that cloud's format (from the provider registry, `domain/providers`: ECR
`<account>.dkr.ecr.<region>.amazonaws.com/<repo>`, ACR `<name>.azurecr.io/<repo>`, Artifact
Registry `<location>-docker.pkg.dev/<project>/<repo>/<image>`). The image builder pushes to
these and the renderer pulls from them, so both read the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from crosscloud import errors
from crosscloud.domain import providers
from crosscloud.domain.providers import model


@dataclass(frozen=True)
class RegistryAddress:
    """A parsed registry prefix: which cloud's registry (`other` for none), its host, and
    the path below it."""

    kind: str
    host: str
    path: str

    def __str__(self) -> str:
        return f"{self.host}/{self.path}" if self.path else self.host


def parse(address: str) -> RegistryAddress:
    """Split a registry prefix and check it against its cloud's format, if it has one."""
    host, _, path = address.strip().rstrip("/").partition("/")
    if path and not model.REPO_PATH.match(path):
        raise errors.UserError(
            f"registry {address!r}: the path {path!r} must be lowercase words joined by . _ - or /"
        )
    for registry in (p.kubernetes.registry for p in providers.PROVIDERS if p.kubernetes):
        if match := registry.host.match(host):
            registry.check(match, path)
            return RegistryAddress(registry.kind, host, path)
    return RegistryAddress("other", host, path)


def has_registry_host(image: str) -> bool:
    """Whether `image` names its registry (`ghcr.io/x`, `localhost:5000/x`), as Docker reads it."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def image_reference(registry: str | None, image: str) -> str:
    """The image a placement pulls: a bare `name:tag` is put under the placement's registry."""
    if registry is None or has_registry_host(image):
        return image
    return f"{parse(registry)}/{image}"
