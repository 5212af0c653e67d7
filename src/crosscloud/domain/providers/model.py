"""What crosscloud knows of one provider, as frozen data: its names, the cluster type it
runs, its regions and, for a managed Kubernetes, what differs there (GPU node labels and
tolerations, load-balancer annotations, the registry address format, how to refresh
credentials). Each provider is one module beside this one; see `providers/__init__.py`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from crosscloud import errors

NVIDIA_GPU = "nvidia.com/gpu"
AMD_GPU = "amd.com/gpu"
#: A repository path below a registry host: lowercase words joined by . _ - or /.
REPO_PATH = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")

#: region name -> (metro, area): metro groups regions in one place, area nearby metros.
Places = Mapping[str, tuple[str, str]]


def require(pattern: re.Pattern[str], value: str, what: str, allowed: str) -> None:
    """Refuse a part of a registry address that does not match its cloud's format."""
    if not pattern.match(value):
        raise errors.UserError(f"registry {what} {value!r} is not valid: {allowed}")


@dataclass(frozen=True)
class Gpu:
    """An accelerator a managed Kubernetes offers: the device-plugin resource pods ask for,
    and the value of the provider's GPU node label on nodes with it (None: no label)."""

    label: str | None
    resource: str = NVIDIA_GPU


@dataclass(frozen=True)
class Registry:
    """A cloud's container registry: the `kind` it is reported as, the pattern of its host,
    and `check(host_match, path)`, which raises UserError for a malformed address."""

    kind: str
    host: re.Pattern[str]
    check: Callable[[re.Match[str], str], None]


@dataclass(frozen=True)
class Kubernetes:
    """What differs on a provider's managed Kubernetes.

    `gpu_label` selects nodes by accelerator (`gpus[name].label`); where
    `gpu_label_with_instance_type` is False it is left out when the pod names an instance
    type (that already says which GPU). `gpu_tolerations` are (key, value) NoSchedule
    taints GPU node pools carry besides the device resource's. `load_balancer` annotates
    the Service of an internet-facing L4 load balancer; `{health_path}` in a value is the
    path it probes. `credentials` is the command that writes a fresh kubeconfig context
    (`{region}` filled in). `spot_label` (key, value) marks the nodes of a spot node pool,
    `spot_taint` (key, value) is the NoSchedule taint such pools carry (None: none);
    `spot_notice_taints` are the taint keys put on a spot node that is being taken back."""

    credentials: str
    gpu_label: str
    gpus: Mapping[str, Gpu] = field(hash=False)
    load_balancer: Mapping[str, str] = field(hash=False)
    registry: Registry
    gpu_label_with_instance_type: bool = True
    gpu_tolerations: tuple[tuple[str, str], ...] = ()
    spot_label: tuple[str, str] = ("", "")
    spot_taint: tuple[str, str] | None = None
    spot_notice_taints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Provider:
    """One provider: `name` as manifests and catalogs write it, the other `spellings`
    accepted in any case (as shown in messages), the `cluster_type` its placements have,
    `label` for messages (`an AWS` region), its `regions` (none: names the user makes up,
    like the local target's), and `kubernetes` (None: it runs on this machine)."""

    name: str
    cluster_type: str
    label: str
    spellings: tuple[str, ...] = ()
    regions: Places = field(default_factory=dict, hash=False)
    kubernetes: Kubernetes | None = None

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every lower-case name that means this provider, its own first."""
        return tuple(dict.fromkeys([self.name, *(s.lower() for s in self.spellings)]))
