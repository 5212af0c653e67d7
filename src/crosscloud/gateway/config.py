"""What the gateway routes: services, their upstreams and policies, from the control plane
(`Gateway.set_endpoints`) or from a small YAML/JSON file (`crosscloud gateway --config`).

The file's schema (and an example of every key) is `domain/gatewayfile.py`, shared with the
control plane that writes it; here it becomes the frozen values the gateway runs on, checked
once when the file is read so that nothing is decided per request."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from crosscloud import errors
from crosscloud.adapters import frontdoor as gwtls
from crosscloud.adapters.security import tls as mtls
from crosscloud.domain import gatewayfile, identity, policies, tokens
from crosscloud.gateway import hold as gwhold
from crosscloud.planning import affinity as pa
from crosscloud.planning import outlier, retry

DEFAULT_MAX_BODY = gatewayfile.DEFAULT_MAX_BODY


@dataclass(frozen=True)
class Upstream:
    """One replica the gateway may send requests to."""

    id: str
    host: str
    port: int
    placement: str = "local/default"
    version: str = ""
    weight: int = 1
    draining: bool = False


@dataclass(frozen=True)
class HealthCheck:
    """Active health checking of every upstream (GET `path`, 2xx/3xx is healthy)."""

    path: str = "/readyz"
    interval: float = 5.0
    timeout: float = 1.0
    unhealthy_threshold: int = 2
    healthy_threshold: int = 1
    enabled: bool = True


@dataclass(frozen=True)
class TokenHash:
    """An API token the gateway accepts: its public id and the SHA-256 of its text."""

    id: str
    sha256: str
    quota: tokens.Quota | None = None
    residency: str | None = None


@dataclass(frozen=True)
class ServiceConfig:
    """One routed service and how its traffic is balanced and protected."""

    name: str
    upstreams: tuple[Upstream, ...] = ()
    hosts: tuple[str, ...] = ()
    policy: policies.Policy = policies.DEFAULT
    failover: tuple[str, ...] = ()
    split: tuple[tuple[str, float], ...] = ()
    timeout: float = 30.0
    per_try_timeout: float = 10.0
    retry: retry.RetryPolicy = field(default_factory=retry.RetryPolicy)
    outlier: outlier.OutlierConfig = field(default_factory=outlier.OutlierConfig)
    health: HealthCheck = field(default_factory=HealthCheck)
    #: Model handlers are pure functions of the request, so POSTs may be retried too.
    idempotent: bool = True
    hold: gwhold.HoldConfig = field(default_factory=gwhold.HoldConfig)
    #: None: open; else a bearer token with one of these hashes is required.
    auth: tuple[TokenHash, ...] | None = None
    #: OpenAI model names it serves: `/v1/*` requests for them come here (gateway/llm.py).
    models: tuple[str, ...] = ()
    #: Without `models`: ask the replicas (`GET /v1/models`, gateway/engines.py).
    discover_models: bool = False
    affinity: pa.AffinityConfig = field(default_factory=pa.AffinityConfig)
    #: Prompt prefix blocks remembered per replica for prefix-affinity (planning/prefix.py).
    affinity_capacity: int = 8192
    #: Residency zones: name -> the placements that may serve a request in it.
    residency: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The URI SAN every replica must present (mutual TLS), or None (plaintext).
    identity: str | None = None

    @property
    def deployment(self) -> str | None:
        """The deployment named by `identity`: its workloads may call without a token."""
        found = None if self.identity is None else identity.parse(self.identity)
        return None if found is None else found.deployment

    def __post_init__(self) -> None:
        # Refused here, once per configuration: a policy never falls back to another.
        if self.policy not in policies.POLICIES:
            raise errors.UserError(f"service {self.name!r}: {policies.unknown(self.policy)}")


@dataclass(frozen=True)
class Limits:
    """What one client may hold or send; past a limit it gets a clean 4xx/5xx and a close.

    Defaults follow nginx where it has one (client_header_timeout and client_body_timeout
    60 s, keepalive_timeout 75 s, large_client_header_buffers 4 x 8k): the header timeout
    is shorter because a head of a model request is a few hundred bytes, and a slow one is
    a slowloris rather than a slow network."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: float = 75.0
    max_connections: int = 8192
    max_pipelined: int = 16
    max_header_bytes: int = 32 * 1024
    max_url_bytes: int = 8 * 1024
    max_headers: int = 100
    max_body_size: int = DEFAULT_MAX_BODY


@dataclass(frozen=True)
class GatewayConfig:
    """The whole gateway: where it listens (HTTPS when `tls`), its limits, its services."""

    host: str = "127.0.0.1"
    port: int = 8080
    services: tuple[ServiceConfig, ...] = ()
    limits: Limits = field(default_factory=Limits)
    tls: gwtls.TlsConfig | None = None
    #: A plain-HTTP listener on 127.0.0.1 for the gateway's own answers only (None: none).
    admin_port: int | None = None
    #: The gateway's certificate and trusted roots for mutual TLS to replicas.
    upstream_tls: mtls.TlsFiles | None = None
    #: (host, port) of the listener for services calling services, or None.
    mesh: tuple[str, int] | None = None

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"


def _service(file: gatewayfile.ServiceFile) -> ServiceConfig:
    o, h = file.outlier_detection, file.health_check
    return ServiceConfig(
        name=file.name,
        upstreams=tuple(Upstream(**u.model_dump()) for u in file.upstreams),
        hosts=tuple(x.lower() for x in file.hosts),
        policy=file.policy,
        failover=tuple(file.failover),
        split=tuple(file.split.items()),
        timeout=file.timeout,
        per_try_timeout=file.retries.per_try_timeout,
        retry=retry.RetryPolicy(attempts=file.retries.attempts),
        outlier=outlier.OutlierConfig(**o.model_dump()),
        health=HealthCheck(path=h.path, interval=h.interval, timeout=h.timeout, enabled=h.enabled),
        idempotent=file.idempotent,
        hold=gwhold.HoldConfig(**file.hold.model_dump()),
        auth=None
        if file.auth is None
        else tuple(
            TokenHash(t.id, t.sha256, _quota(t.quota), t.residency) for t in file.auth.tokens
        ),
        models=tuple(file.models),
        discover_models=file.discover_models,
        affinity=pa.AffinityConfig(
            cache_threshold=file.affinity.cache_threshold,
            balance_abs=file.affinity.balance_abs,
            balance_rel=file.affinity.balance_rel,
        ),
        affinity_capacity=file.affinity.capacity,
        residency=tuple((zone, tuple(members)) for zone, members in file.residency.items()),
        identity=file.identity,
    )


def _quota(file: gatewayfile.QuotaFile | None) -> tokens.Quota | None:
    return None if file is None else tokens.Quota(**file.model_dump())


def parse(data: Any, *, source: str = "<config>") -> GatewayConfig:
    """A GatewayConfig from parsed YAML/JSON; UserError naming the field and the bad value."""
    try:
        model = gatewayfile.GatewayFile.model_validate(data)
    except pydantic.ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            lines.append(f"{source}: {where}: {err['msg']} (got {err.get('input')!r})")
        raise errors.UserError("\n".join(lines)) from None
    names = [s.name for s in model.services]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise errors.UserError(f"{source}: services: duplicate service names {dupes}")
    return GatewayConfig(
        host=model.listen.host,
        port=model.listen.port,
        services=tuple(_service(s) for s in model.services),
        limits=Limits(**model.limits.model_dump()),
        tls=None if model.listen.tls is None else gwtls.TlsConfig(**model.listen.tls.model_dump()),
        admin_port=model.listen.admin_port,
        upstream_tls=_upstream_tls(model.upstream_tls),
        mesh=None if model.mesh is None else (model.mesh.host, model.mesh.port),
    )


def _upstream_tls(file: gatewayfile.UpstreamTlsFile | None) -> mtls.TlsFiles | None:
    if file is None:
        return None
    return mtls.TlsFiles(
        Path(file.cert), None if file.key is None else Path(file.key), Path(file.ca)
    )


def load(path: str | Path) -> GatewayConfig:
    """Read a gateway config file (YAML or JSON)."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise errors.UserError(f"cannot read {file}: {exc.strerror}") from None
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.UserError(f"{file}: not valid YAML/JSON: {exc}") from None
    return parse(data or {}, source=str(file))
