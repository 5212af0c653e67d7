"""The CloudDeployment manifest as pydantic models (YAML keys in camelCase, attributes in
snake_case); unknown keys are refused and cross-field rules run in `rules`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from crosscloud.domain import policies, providers
from crosscloud.domain.manifest import fields, rules
from crosscloud.domain.manifest.base import Model
from crosscloud.domain.manifest.network import NetworkSpec
from crosscloud.domain.manifest.security import SecuritySpec
from crosscloud.domain.manifest.spot import SpotSpec
from crosscloud.domain.manifest.traffic import OptimizerSpec, StateSpec, TrafficSpec

API_VERSION = "crosscloud.dev/v1"
KIND = "CloudDeployment"
_TYPE_DEFAULT = "Default: the provider's ({}).".format(
    ", ".join(f"{p.name} {p.cluster_type}" for p in providers.CLUSTERS)
)


class Metadata(Model):
    """`metadata`: the deployment's name, also the default Kubernetes namespace."""

    name: fields.DnsLabel


class Scaling(Model):
    """`scaling`: replica bounds and the load one replica should carry."""

    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1, description="Defaults to max(minReplicas, 1).")
    target_concurrency: float | None = Field(None, gt=0)
    target_qps: float | None = Field(None, gt=0, alias="targetQPS")
    target_tokens_per_second: float | None = Field(
        None, gt=0, description="Prompt + completion tokens per second per replica (gateway)."
    )
    target_queue_length: float | None = Field(
        None, gt=0, description="Requests waiting per replica (vllm:num_requests_waiting)."
    )
    scale_to_zero_after: fields.Duration | None = None
    min_failure_domains: int | None = Field(
        None,
        ge=1,
        description="Scale-down keeps replicas in this many placements at least."
        " Default: 2 when the service has two placements or more.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_max(cls, data: Any) -> Any:
        if isinstance(data, dict) and not {"maxReplicas", "max_replicas"} & data.keys():
            low = data.get("minReplicas", data.get("min_replicas", 1))
            top = low if isinstance(low, int) and not isinstance(low, bool) and low > 1 else 1
            return {**data, "maxReplicas": top}
        return data

    @model_validator(mode="after")
    def _check(self) -> Scaling:
        rules.raise_if(rules.check_scaling(self))
        return self


class ResourceOverrides(Model):
    """`resources`: overrides of what the service class declares for one replica."""

    cpu: fields.Cpu | None = None
    memory: fields.Memory | None = None
    accelerators: fields.Accelerators | None = None


class SecretRef(Model):
    """A reference to a key of a Kubernetes Secret; the value never appears here."""

    secret: fields.DnsLabel
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$", min_length=1)


class ServiceSpec(Model):
    """`spec.services[]`: one model service, built from `source`, run from `image` (on
    clusters) or started as `command` (on local placements)."""

    name: fields.DnsLabel
    source: str | None = Field(None, pattern=r"^\S+$", description="path.py:Class")
    image: str | None = Field(None, pattern=r"^[A-Za-z0-9][-A-Za-z0-9._/:@]*$")
    command: tuple[fields.Argument, ...] | None = Field(
        None,
        min_length=1,
        description="Local placements: a process serving HTTP on the port it is given"
        " ({port} in an argument, and $PORT), run in the manifest's folder.",
    )
    args: tuple[fields.Argument, ...] = Field(
        (), description="Arguments to the image's entrypoint (`image:` services)."
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="The port the image listens on. Default 8000."
    )
    health_path: str | None = Field(
        None,
        pattern=r"^/[!-~]*$",
        description="Answers 200 once a replica is ready (vLLM, SGLang, TGI: /health)."
        " Default /readyz, crosscloud's.",
    )
    scaling: Scaling = Field(default_factory=Scaling)
    resources: ResourceOverrides | None = None
    env: dict[fields.EnvName, fields.EnvValue] = Field(default_factory=dict)
    secret_env: dict[fields.EnvName, SecretRef] = Field(default_factory=dict)
    spot: SpotSpec | None = None
    policy: policies.Policy | None = Field(
        None, description="This service's routing policy. Default: `spec.traffic.policy`."
    )
    models: tuple[fields.ModelName, ...] = Field(
        (),
        description="OpenAI model names it serves: the gateway sends `/v1/*` requests for"
        " them here. Default: what its replicas list at `GET /v1/models`.",
    )

    @property
    def runs_crosscloud(self) -> bool:
        """Whether its replicas are crosscloud's runtime (`source`, or an image built by
        `crosscloud build`), which serves mutual TLS; a server crosscloud did not build
        (`command`, or an image given `args`, `port` or `healthPath`) speaks plain HTTP."""
        foreign = self.args or self.port is not None or self.health_path is not None
        return self.command is None and not foreign

    @model_validator(mode="after")
    def _check(self) -> ServiceSpec:
        rules.raise_if(rules.check_service(self))
        return self


class PlacementService(Model):
    """`spec.placements[].services[]`: a service run at a placement."""

    name: str
    replicas: int | None = Field(None, ge=0)
    weight: float | None = Field(None, ge=0, allow_inf_nan=False)


class Placement(Model):
    """`spec.placements[]`: a cluster (or local region) and the services it runs."""

    provider: fields.Provider
    region: str | None = None
    type: fields.ClusterType = Field(providers.LOCAL.cluster_type, description=_TYPE_DEFAULT)
    context: str | None = Field(None, min_length=1, description="kubeconfig context")
    namespace: str = Field("", description="Defaults to metadata.name.")
    mesh: Literal["none", "istio"] = "none"
    instance_type: str | None = Field(None, min_length=1)
    spot: bool | None = None
    price_per_hour: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="USD per replica-hour here, for `crosscloud cost`. Default: the price"
        " catalog's (clouds), 0 (local).",
    )
    spot_price_per_hour: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="USD per spot replica-hour here. Default: pricePerHour, else the catalog's.",
    )
    registry: str | None = Field(None, pattern=r"^\S+$")
    services: tuple[PlacementService, ...] = Field((), description="Default: every service.")
    network: NetworkSpec = Field(default_factory=NetworkSpec)

    @property
    def id(self) -> str:
        """`provider/region` (`provider/auto` before the optimizer picks a region)."""
        return f"{self.provider}/{self.region or 'auto'}"

    @model_validator(mode="before")
    @classmethod
    def _default_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" not in data:
            found = providers.find(str(data.get("provider", "")))
            return data if found is None else {**data, "type": found.cluster_type}
        return data

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return fields.check_dns_label(value)

    @field_validator("services")
    @classmethod
    def _services(cls, value: tuple[PlacementService, ...]) -> tuple[PlacementService, ...]:
        if not value:
            raise ValueError("an empty list places nothing; leave services out to run every one")
        return value

    @model_validator(mode="after")
    def _check(self) -> Placement:
        rules.raise_if(rules.check_placement(self))
        return self


def _placements_kind(value: object) -> str:
    return "auto" if isinstance(value, str) else "list"


# One branch is tried per input, so errors name the placements, not the union's members.
Placements = Annotated[
    Annotated[tuple[Placement, ...], Tag("list")] | Annotated[Literal["auto"], Tag("auto")],
    Discriminator(_placements_kind),
]


class Spec(Model):
    """`spec`: services, where they run, how traffic reaches them, where state lives."""

    services: tuple[ServiceSpec, ...] = Field(min_length=1)
    placements: Placements = "auto"
    traffic: TrafficSpec = Field(default_factory=TrafficSpec)
    state: StateSpec = Field(default_factory=StateSpec)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    security: SecuritySpec = Field(default_factory=SecuritySpec)

    def secured(self, service: str) -> bool:
        """Whether `service`'s replicas serve (and are reached over) mutual TLS: on unless
        `security.mtls: disabled`, for replicas that run crosscloud's runtime."""
        found = next((s for s in self.services if s.name == service), None)
        return self.security.enabled and found is not None and found.runs_crosscloud


class Manifest(Model):
    """A whole `CloudDeployment` manifest, valid across fields once built."""

    api_version: Literal["crosscloud.dev/v1"] = Field(alias="apiVersion")
    kind: Literal["CloudDeployment"]
    metadata: Metadata
    spec: Spec

    @model_validator(mode="after")
    def _check(self) -> Manifest:
        rules.raise_if(rules.check_manifest(self))
        # Defaults that depend on other fields, set once while the model is still private.
        object.__setattr__(self, "spec", _with_defaults(self.spec, self.metadata.name))
        return self

    @property
    def is_auto(self) -> bool:
        """Whether the optimizer chooses every placement (`placements: auto`)."""
        return self.spec.placements == "auto"

    def placements(self) -> tuple[Placement, ...]:
        """The declared placements in file order (empty when `placements: auto`)."""
        return () if self.spec.placements == "auto" else self.spec.placements

    def placement(self, placement_id: str) -> Placement:
        """The placement whose id is `provider/region`; KeyError when none is."""
        for item in self.placements():
            if item.id == placement_id:
                return item
        raise KeyError(placement_id)

    def service(self, name: str) -> ServiceSpec:
        """The service called `name`; KeyError when none is."""
        for item in self.spec.services:
            if item.name == name:
                return item
        raise KeyError(name)


def _with_defaults(spec: Spec, namespace: str) -> Spec:
    """The spec with each placement's namespace and services filled in when left out."""
    if spec.placements == "auto":
        return spec
    every = tuple(PlacementService(name=s.name) for s in spec.services)
    filled = tuple(
        p.model_copy(
            update={"namespace": p.namespace or namespace, "services": p.services or every}
        )
        for p in spec.placements
    )
    return spec.model_copy(update={"placements": filled})
