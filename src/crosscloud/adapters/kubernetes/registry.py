"""Container registry addresses of the three clouds, built and checked in one place.

ECR `<account>.dkr.ecr.<region>.amazonaws.com/<repo>`, ACR `<name>.azurecr.io/<repo>`,
Artifact Registry `<location>-docker.pkg.dev/<project>/<repo>/<image>`. The image builder
pushes to these and the renderer pulls from them, so both read the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from crosscloud import errors

RegistryKind = Literal["ecr", "acr", "artifact-registry", "other"]

_PATH = r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
_ECR_HOST = re.compile(r"^(\d+)\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_ACR_HOST = re.compile(r"^([a-z0-9]+)\.azurecr\.io$")
_AR_HOST = re.compile(r"^([a-z0-9-]+)-docker\.pkg\.dev$")
_ACCOUNT = re.compile(r"^\d{12}$")
_AWS_REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d$")
_ACR_NAME = re.compile(r"^[a-z0-9]{5,50}$")
_AR_LOCATION = re.compile(r"^[a-z]+(?:-[a-z]+\d*)?$")
_GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_AR_REPO = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
_REPO_PATH = re.compile(rf"^{_PATH}$")


@dataclass(frozen=True)
class RegistryAddress:
    """A parsed registry prefix: which cloud's registry, its host, and the path below it."""

    kind: RegistryKind
    host: str
    path: str

    def __str__(self) -> str:
        return f"{self.host}/{self.path}" if self.path else self.host


def _require(pattern: re.Pattern[str], value: str, what: str, allowed: str) -> None:
    if not pattern.match(value):
        raise errors.UserError(f"registry {what} {value!r} is not valid: {allowed}")


def ecr(account: str, region: str, repository: str) -> str:
    """The Amazon ECR address of a repository."""
    _require(_ACCOUNT, account, "account", "an AWS account id is 12 digits")
    _require(_AWS_REGION, region, "region", "an AWS region looks like us-west-2")
    _require(_REPO_PATH, repository, "repository", "lowercase words joined by . _ - or /")
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"


def acr(name: str, repository: str) -> str:
    """The Azure Container Registry address of a repository."""
    _require(_ACR_NAME, name, "name", "5 to 50 lowercase letters and digits")
    _require(_REPO_PATH, repository, "repository", "lowercase words joined by . _ - or /")
    return f"{name}.azurecr.io/{repository}"


def artifact_registry(location: str, project: str, repository: str, image: str = "") -> str:
    """The Google Artifact Registry address of a Docker repository (and image)."""
    _require(_AR_LOCATION, location, "location", "a region like us-central1 or `us`")
    _require(_GCP_PROJECT, project, "project", "a GCP project id (6-30 chars, a-z 0-9 -)")
    _require(_AR_REPO, repository, "repository", "lowercase letters, digits and '-'")
    base = f"{location}-docker.pkg.dev/{project}/{repository}"
    if image:
        _require(_REPO_PATH, image, "image", "lowercase words joined by . _ - or /")
        return f"{base}/{image}"
    return base


def parse(address: str) -> RegistryAddress:
    """Split a registry prefix and check it against its cloud's format, if it has one."""
    host, _, path = address.strip().rstrip("/").partition("/")
    if path and not _REPO_PATH.match(path):
        raise errors.UserError(
            f"registry {address!r}: the path {path!r} must be lowercase words joined by . _ - or /"
        )
    if match := _ECR_HOST.match(host):
        ecr(match.group(1), match.group(2), path or "x")
        return RegistryAddress("ecr", host, path)
    if match := _ACR_HOST.match(host):
        acr(match.group(1), path or "x")
        return RegistryAddress("acr", host, path)
    if match := _AR_HOST.match(host):
        project, _, rest = path.partition("/")
        repository = rest.partition("/")[0]
        if not repository:
            raise errors.UserError(
                f"registry {address!r}: Artifact Registry addresses are"
                " <location>-docker.pkg.dev/<project>/<repository>"
            )
        artifact_registry(match.group(1), project, repository)
        return RegistryAddress("artifact-registry", host, path)
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
