"""The providers crosscloud deploys to, as data: one module each (`aws`, `azure`, `gcp`,
`local`) and `PROVIDERS`, the tuple that the manifest, the price catalog, the optimizer
and the Kubernetes renderer read instead of spelling names out. A new cloud is a module
here, its entry in `PROVIDERS` and rows in the price catalog: docs/adding-a-cloud.md."""

from __future__ import annotations

from collections.abc import Iterable

from crosscloud.domain.providers import aws, azure, gcp, local
from crosscloud.domain.providers.model import Gpu, Kubernetes, Provider, Registry

__all__ = [
    "CLUSTERS",
    "LOCAL",
    "PROVIDERS",
    "Gpu",
    "Kubernetes",
    "Provider",
    "Registry",
    "find",
    "get",
    "listed",
    "names",
    "of_cluster_type",
]

#: Every provider, in the order messages and documentation list them.
PROVIDERS: tuple[Provider, ...] = (aws.AWS, azure.AZURE, gcp.GCP, local.LOCAL)
#: The providers whose placements are Kubernetes clusters.
CLUSTERS: tuple[Provider, ...] = tuple(p for p in PROVIDERS if p.kubernetes is not None)
#: The target on this machine.
LOCAL = local.LOCAL

_BY_ALIAS = {alias: p for p in PROVIDERS for alias in p.aliases}
_BY_TYPE = {p.cluster_type.lower(): p for p in PROVIDERS}


def names() -> tuple[str, ...]:
    """The canonical names: aws, azure, gcp, local."""
    return tuple(p.name for p in PROVIDERS)


def find(spelling: str) -> Provider | None:
    """The provider a name or alias means, in any case (`Google` -> gcp); None if none."""
    return _BY_ALIAS.get(spelling.strip().lower())


def get(name: str) -> Provider:
    """The provider called `name` (canonical or alias); KeyError when none is."""
    found = find(name)
    if found is None:
        raise KeyError(name)
    return found


def of_cluster_type(cluster_type: str) -> Provider | None:
    """The provider whose placements have this type (`eks` or `EKS` -> aws); None if none."""
    return _BY_TYPE.get(cluster_type.strip().lower())


def listed(words: Iterable[str], last: str = "or") -> str:
    """`a, b or c`: for messages that list names."""
    items = list(words)
    return f"{', '.join(items[:-1])} {last} {items[-1]}" if len(items) > 1 else "".join(items)
