"""What the gateway routes: services, their upstreams and policies, from the control plane
(`Gateway.set_endpoints`) or from a small YAML/JSON file (`crosscloud gateway --config`).

File format (durations as in manifests: 250ms, 10s, 5m):

    listen: {host: 127.0.0.1, port: 8080}
    services:
      - name: echo
        hosts: [echo.example.com]          # optional: route by Host header too
        policy: least-request              # round-robin | least-request | latency
        failover: [local/a, local/b]       # placement order for locality failover
        split: {v1: 90, v2: 10}            # optional canary split by version
        timeout: 30s
        retries: {attempts: 2, perTryTimeout: 10s}
        outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
        healthCheck: {path: /readyz, interval: 5s, timeout: 1s}
        hold: {maxRequests: 100, timeout: 30s, retryAfter: 5s}  # while no replica (hold.py)
        auth: {tokens: [{id: 0123456789ab, sha256: <64 hex digits>}]}  # optional, see auth.py
        upstreams:
          - {id: a1, host: 127.0.0.1, port: 9001, placement: local/a, version: v1}
    limits:                                # every one optional; the defaults shown
      headerTimeout: 10s                   # a request head must arrive within this: 408, close
      bodyTimeout: 60s                     # longest gap between two reads of a body: 408, close
      idleTimeout: 75s                     # a connection with no request in progress is closed
      maxConnections: 8192                 # open client connections; past it 503 and close
      maxPipelined: 16                     # requests queued on one connection; then reading stops
      maxHeaderBytes: 32Ki                 # the whole request head: 431 (checked while reading)
      maxUrlBytes: 8Ki                     # the request target: 414
      maxHeaders: 100                      # 431
      maxBodySize: 64Mi                    # 413
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from crosscloud import errors
from crosscloud.domain import quantity
from crosscloud.gateway import hold as gwhold
from crosscloud.planning import outlier, retry

DEFAULT_MAX_BODY = 64 * 1024 * 1024


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


@dataclass(frozen=True)
class ServiceConfig:
    """One routed service and how its traffic is balanced and protected."""

    name: str
    upstreams: tuple[Upstream, ...] = ()
    hosts: tuple[str, ...] = ()
    policy: str = "least-request"
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
    """The whole gateway: where it listens, its limits, and its services."""

    host: str = "127.0.0.1"
    port: int = 8080
    services: tuple[ServiceConfig, ...] = ()
    limits: Limits = field(default_factory=Limits)


class _Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class _UpstreamFile(_Model):
    id: str
    host: str = "127.0.0.1"
    port: int = pydantic.Field(ge=1, le=65535)
    placement: str = "local/default"
    version: str = ""
    weight: int = pydantic.Field(default=1, ge=1, le=1000)
    draining: bool = False


class _RetriesFile(_Model):
    attempts: int = pydantic.Field(default=2, ge=0, le=10)
    per_try_timeout: float = pydantic.Field(default=10.0, alias="perTryTimeout")

    _d = pydantic.field_validator("per_try_timeout", mode="before")(quantity.parse_duration)


class _OutlierFile(_Model):
    consecutive_5xx: int = pydantic.Field(default=5, ge=1, alias="consecutive5xxErrors")
    interval: float = 10.0
    base_ejection_time: float = pydantic.Field(default=30.0, alias="baseEjectionTime")
    max_ejection_time: float = pydantic.Field(default=300.0, alias="maxEjectionTime")
    max_ejection_percent: float = pydantic.Field(
        default=10.0, ge=0, le=100, alias="maxEjectionPercent"
    )

    _d = pydantic.field_validator(
        "interval", "base_ejection_time", "max_ejection_time", mode="before"
    )(quantity.parse_duration)


class _HealthFile(_Model):
    path: str = "/readyz"
    interval: float = 5.0
    timeout: float = 1.0
    enabled: bool = True

    _d = pydantic.field_validator("interval", "timeout", mode="before")(quantity.parse_duration)


class _TokenFile(_Model):
    id: str = pydantic.Field(pattern=r"^[0-9a-f]{12}$")
    sha256: str = pydantic.Field(pattern=r"^[0-9a-f]{64}$")


class _AuthFile(_Model):
    tokens: list[_TokenFile] = []


class _HoldFile(_Model):
    max_requests: int = pydantic.Field(default=100, ge=0, alias="maxRequests")
    timeout: float = 30.0
    retry_after: float = pydantic.Field(default=5.0, alias="retryAfter")

    _d = pydantic.field_validator("timeout", "retry_after", mode="before")(quantity.parse_duration)


class _ServiceFile(_Model):
    name: str = pydantic.Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    hosts: list[str] = []
    policy: Literal["round-robin", "least-request", "latency"] = "least-request"
    failover: list[str] = []
    split: dict[str, float] = {}
    timeout: float = 30.0
    idempotent: bool = True
    retries: _RetriesFile = _RetriesFile()
    outlier_detection: _OutlierFile = pydantic.Field(_OutlierFile(), alias="outlierDetection")
    health_check: _HealthFile = pydantic.Field(_HealthFile(), alias="healthCheck")
    upstreams: list[_UpstreamFile] = []
    hold: _HoldFile = _HoldFile()
    auth: _AuthFile | None = None

    _d = pydantic.field_validator("timeout", mode="before")(quantity.parse_duration)

    def build(self) -> ServiceConfig:
        o, h = self.outlier_detection, self.health_check
        return ServiceConfig(
            name=self.name,
            upstreams=tuple(Upstream(**u.model_dump()) for u in self.upstreams),
            hosts=tuple(x.lower() for x in self.hosts),
            policy=self.policy,
            failover=tuple(self.failover),
            split=tuple(self.split.items()),
            timeout=self.timeout,
            per_try_timeout=self.retries.per_try_timeout,
            retry=retry.RetryPolicy(attempts=self.retries.attempts),
            outlier=outlier.OutlierConfig(**o.model_dump()),
            health=HealthCheck(
                path=h.path, interval=h.interval, timeout=h.timeout, enabled=h.enabled
            ),
            idempotent=self.idempotent,
            hold=gwhold.HoldConfig(**self.hold.model_dump()),
            auth=None
            if self.auth is None
            else tuple(TokenHash(t.id, t.sha256) for t in self.auth.tokens),
        )


class _ListenFile(_Model):
    host: str = "127.0.0.1"
    port: int = pydantic.Field(default=8080, ge=0, le=65535)


class _LimitsFile(_Model):
    header_timeout: float = pydantic.Field(default=10.0, gt=0, alias="headerTimeout")
    body_timeout: float = pydantic.Field(default=60.0, gt=0, alias="bodyTimeout")
    idle_timeout: float = pydantic.Field(default=75.0, gt=0, alias="idleTimeout")
    max_connections: int = pydantic.Field(default=8192, ge=1, alias="maxConnections")
    max_pipelined: int = pydantic.Field(default=16, ge=1, le=1024, alias="maxPipelined")
    max_header_bytes: int = pydantic.Field(default=32 * 1024, ge=1024, alias="maxHeaderBytes")
    max_url_bytes: int = pydantic.Field(default=8 * 1024, ge=256, alias="maxUrlBytes")
    max_headers: int = pydantic.Field(default=100, ge=1, alias="maxHeaders")
    max_body_size: int = pydantic.Field(default=DEFAULT_MAX_BODY, ge=1, alias="maxBodySize")

    _d = pydantic.field_validator(
        "header_timeout", "body_timeout", "idle_timeout", mode="before"
    )(quantity.parse_duration)
    _b = pydantic.field_validator(
        "max_header_bytes", "max_url_bytes", "max_body_size", mode="before"
    )(quantity.parse_memory)

    def build(self) -> Limits:
        return Limits(**self.model_dump())


class _GatewayFile(_Model):
    listen: _ListenFile = _ListenFile()
    limits: _LimitsFile = _LimitsFile()
    services: list[_ServiceFile] = []


def parse(data: Any, *, source: str = "<config>") -> GatewayConfig:
    """A GatewayConfig from parsed YAML/JSON; UserError naming the field and the bad value."""
    try:
        model = _GatewayFile.model_validate(data)
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
        services=tuple(s.build() for s in model.services),
        limits=model.limits.build(),
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
