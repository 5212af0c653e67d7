"""The renderer's own input: frozen, already-parsed values for one placement.

The manifest model maps onto these; the renderer depends on nothing else, so it stays a
pure function of them. Names are checked here because Kubernetes would refuse them later,
far from the manifest line that caused it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from crosscloud import errors
from crosscloud.domain import policies, providers

Mesh = Literal["none", "istio"]
Policy = policies.Policy

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SECRET_WORDS = frozenset({"PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "CREDENTIAL"})
_SECRET_PAIRS = ("API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIALS")


def check_name(value: str, *, what: str, service: bool = False) -> None:
    """Refuse a name Kubernetes would refuse: a DNS label (RFC 1035 for Services)."""
    pattern = _DNS_1035 if service else _DNS_LABEL
    if len(value) > 63 or not pattern.match(value):
        start = "a lowercase letter" if service else "a lowercase letter or digit"
        raise errors.UserError(
            f"{what} {value!r} is not a valid Kubernetes name: use at most 63 lowercase"
            f" letters, digits and '-', starting with {start} and ending with a letter or digit"
        )


def looks_secret(name: str) -> bool:
    """True for environment names that usually hold credentials (HF_TOKEN, DB_PASSWORD)."""
    upper = name.upper()
    parts = set(re.split(r"[^A-Z0-9]+", upper))
    return bool(parts & _SECRET_WORDS) or any(pair in upper for pair in _SECRET_PAIRS)


@dataclass(frozen=True)
class SecretRef:
    """A key inside a Kubernetes Secret; only this reference is ever rendered."""

    secret: str
    key: str


@dataclass(frozen=True)
class TlsMaterial:
    """A workload's certificate, its key and the trust bundle, in PEM. Only the control
    plane's `up` renders it; `plan --render` shows a masked Secret instead."""

    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)
    ca_pem: bytes = field(repr=False)


@dataclass(frozen=True)
class RenderService:
    """One service as it runs in one placement.

    `replicas` is the count planned for this placement; the HorizontalPodAutoscaler may
    move it between `min_replicas` and `max_replicas`. Exactly one of `target_concurrency`
    (in-flight requests per replica) and `target_cpu_percent` drives the autoscaler; with
    neither, it scales on 80% CPU.
    """

    name: str
    image: str
    cpu: float = 1.0
    memory_bytes: int = 2 * 2**30
    args: tuple[str, ...] = ()
    # Left out of the hash (mappings have none) but still compared.
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    secret_env: Mapping[str, SecretRef] = field(default_factory=dict, hash=False)
    accelerator: str | None = None
    accelerator_count: int = 0
    instance_type: str | None = None
    replicas: int = 1
    min_replicas: int = 1
    max_replicas: int = 1
    target_concurrency: float | None = None
    target_cpu_percent: int | None = None
    port: int = 8000
    spot: bool = False  # on the cloud's spot node pool (its label and taint)
    # A server crosscloud did not build (vLLM, SGLang, TGI): its own readiness path, probed
    # for start-up (long: models load), readiness and liveness. None: crosscloud's paths.
    health_path: str | None = None
    #: Mutual TLS: the pod serves TLS only, with a certificate from a Secret.
    mtls: bool = False
    tls_material: TlsMaterial | None = field(default=None, hash=False, repr=False)

    def __post_init__(self) -> None:
        check_name(self.name, what="service name", service=True)
        if not self.image:
            raise errors.UserError(f"service {self.name!r}: an image is required")
        if not 1 <= self.port <= 65535:
            raise errors.UserError(f"service {self.name!r}: port {self.port} is not in 1..65535")
        if self.health_path is not None and not self.health_path.startswith("/"):
            raise errors.UserError(
                f"service {self.name!r}: healthPath {self.health_path!r} must start with /"
            )
        if self.cpu <= 0 or self.memory_bytes <= 0:
            raise errors.UserError(f"service {self.name!r}: cpu and memory must be above 0")
        if (self.accelerator is None) != (self.accelerator_count == 0):
            raise errors.UserError(
                f"service {self.name!r}: give an accelerator name and a count above 0 together"
            )
        self._check_replicas()
        self._check_env()

    def _check_replicas(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.replicas < 0:
            raise errors.UserError(
                f"service {self.name!r}: need 0 <= minReplicas <= maxReplicas and replicas"
                f" >= 0 (got min {self.min_replicas}, max {self.max_replicas},"
                f" replicas {self.replicas})"
            )
        if self.target_concurrency is not None and self.target_cpu_percent is not None:
            raise errors.UserError(
                f"service {self.name!r}: scale on targetConcurrency or on CPU, not both"
            )

    def _check_env(self) -> None:
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise errors.UserError(
                f"service {self.name!r}: {', '.join(both)} set both as a value and a secret"
            )
        for name in sorted(self.env):
            if looks_secret(name):
                raise errors.UserError(
                    f"service {self.name!r}: env {name} looks like a credential; reference a"
                    " Kubernetes Secret (secretEnv) so its value is never written to manifests"
                )

    @property
    def autoscaled(self) -> bool:
        """Whether an autoscaler has room to move (maxReplicas above the floor)."""
        return self.max_replicas > max(1, self.min_replicas)


@dataclass(frozen=True)
class RenderPlacement:
    """Where the services go: one cluster context and namespace in one cloud region."""

    provider: str  # a provider with a managed Kubernetes (`providers.CLUSTERS`)
    region: str
    type: str  # the provider's cluster type: EKS, AKS, GKE
    context: str
    namespace: str
    mesh: Mesh = "none"
    instance_type: str | None = None
    registry: str | None = None

    def __post_init__(self) -> None:
        types = {p.name: p.cluster_type for p in providers.CLUSTERS}
        if types.get(self.provider) != self.type:
            uses = ", ".join(f"{name} {kind}" for name, kind in types.items())
            raise errors.UserError(
                f"placement {self.provider}/{self.region}: type {self.type!r} does not run on"
                f" provider {self.provider!r} (by provider: {uses})"
            )
        check_name(self.namespace, what="namespace")
        if self.mesh not in ("none", "istio"):
            raise errors.UserError(f"mesh {self.mesh!r} is not one of: none, istio")

    @property
    def key(self) -> str:
        """A stable, file-name-safe identity such as `aws-us-west-2`."""
        return f"{self.provider}-{self.region}"


@dataclass(frozen=True)
class RenderTraffic:
    """`spec.traffic` in seconds and counts; None leaves the mesh's own default."""

    policy: Policy = policies.DEFAULT
    timeout_s: float | None = None
    retry_attempts: int | None = None
    per_try_timeout_s: float | None = None
    retry_on: str | None = None
    consecutive_5xx: int | None = None
    interval_s: float | None = None
    base_ejection_s: float | None = None
    max_ejection_percent: int | None = None

    def __post_init__(self) -> None:
        if self.policy not in policies.POLICIES:
            raise errors.UserError(
                f"traffic policy {self.policy!r} is not one of: {', '.join(policies.POLICIES)}"
            )
        for name in ("timeout_s", "per_try_timeout_s", "interval_s", "base_ejection_s"):
            value = getattr(self, name)
            if value is not None and value < 0.001:
                raise errors.UserError(f"traffic {name}: {value!r} must be at least 1ms")
        if self.retry_attempts is not None and self.retry_attempts < 0:
            raise errors.UserError(f"traffic retries: {self.retry_attempts} is below 0")
        percent = self.max_ejection_percent
        if percent is not None and not 0 <= percent <= 100:
            raise errors.UserError(f"traffic maxEjectionPercent: {percent} is not in 0..100")
