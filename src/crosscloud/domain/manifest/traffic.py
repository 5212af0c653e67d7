"""`spec.traffic`, `spec.state` and `spec.optimizer`: how requests reach replicas, where
the control plane keeps its state, and what the placement optimizer may choose from."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from crosscloud.domain import policies, providers
from crosscloud.domain.manifest import fields, frontdoor, rules
from crosscloud.domain.manifest.base import Model

RetryCondition = Literal[
    "5xx",
    "gateway-error",
    "reset",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
]
_URL_SCHEMES = ("sqlite:///", "postgresql://", "postgresql+psycopg://", "postgres://")
_PASSWORD = re.compile(r"(//[^/:@]*):[^@/]*@")


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Retries(Model):
    """`traffic.retries`: how often the gateway retries a request, on which failures."""

    attempts: int = Field(2, ge=0, le=10)
    per_try_timeout: fields.Duration | None = None
    retry_on: Annotated[tuple[RetryCondition, ...], BeforeValidator(_comma_list)] = (
        "5xx",
        "reset",
        "connect-failure",
    )


class OutlierDetection(Model):
    """`traffic.outlierDetection`: Envoy-style passive ejection of failing replicas."""

    consecutive_5xx_errors: int = Field(5, ge=0, alias="consecutive5xxErrors")
    interval: fields.Duration = 10.0
    base_ejection_time: fields.Duration = 30.0
    max_ejection_percent: int = Field(10, ge=0, le=100)


class TrafficLimits(Model):
    """`traffic.limits`: what one client of the gateway may hold or send. Past a limit the
    client gets a clean answer (408, 413, 414, 431, 503) and its connection closes."""

    header_timeout: fields.Duration = Field(
        10.0, description="A request head must arrive within this (slowloris): 408."
    )
    body_timeout: fields.Duration = Field(
        60.0, description="Longest gap between two reads of a request body: 408."
    )
    idle_timeout: fields.Duration = Field(
        75.0, description="A client connection with no request in progress is closed."
    )
    max_connections: int = Field(
        8192, ge=1, description="Open client connections; past it 503 (and the open-file limit)."
    )
    max_pipelined: int = Field(
        16, ge=1, le=1024, description="Requests queued on one connection before reading pauses."
    )
    max_header_bytes: fields.Memory = Field(
        32 * 1024, description="The whole request head, checked as it is read: 431."
    )
    max_url_bytes: fields.Memory = Field(8 * 1024, description="The request target: 414.")
    max_headers: int = Field(100, ge=1, description="Header lines in a request: 431.")
    max_body_size: fields.Memory = Field(64 * 1024 * 1024, description="A request body: 413.")

    @field_validator("header_timeout", "body_timeout", "idle_timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("a limit's timeout must be more than 0 (e.g. 10s)")
        return value

    @field_validator("max_header_bytes", "max_url_bytes")
    @classmethod
    def _at_least(cls, value: int, info: ValidationInfo) -> int:
        least = 1024 if info.field_name == "max_header_bytes" else 256
        if value < least:
            raise ValueError(f"{value} bytes is too small; at least {least} (e.g. 32Ki)")
        return value


class PrefixAffinity(Model):
    """`traffic.prefixAffinity`: the thresholds of `policy: prefix-affinity` (SGLang's
    router's names). A request goes to the replica holding the longest prefix of its
    prompt when that covers `cacheThreshold` of it and that replica has at most
    `balanceAbsThreshold` requests in flight more than the least loaded one (or at most
    `balanceRelThreshold` times as many); else to the least loaded replica."""

    cache_threshold: float = Field(0.5, ge=0, le=1, description="SGLang's default.")
    balance_abs_threshold: int = Field(
        2, ge=0, description="SGLang documents 32, for hundreds of requests per GPU replica."
    )
    balance_rel_threshold: float = Field(1.0001, ge=1, description="SGLang's default.")
    blocks_per_replica: int = Field(
        8192, ge=1, le=1_048_576, description="Prompt blocks of 512 bytes remembered per replica."
    )


class TrafficSpec(Model):
    """`spec.traffic`: balancing policy, timeouts, retries, ejection, failover, split."""

    policy: policies.Policy = policies.DEFAULT
    timeout: fields.Duration = 30.0
    retries: Retries = Field(default_factory=Retries)
    outlier_detection: OutlierDetection = Field(default_factory=OutlierDetection)
    failover: tuple[fields.FailoverEntry, ...] = Field(
        (), description="Placement ids (provider/region) in the order to fail over."
    )
    split: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=dict, description="Weights per placement id or version."
    )
    limits: TrafficLimits = Field(default_factory=TrafficLimits)
    prefix_affinity: PrefixAffinity = Field(default_factory=PrefixAffinity)
    tls: frontdoor.FrontDoorTls | None = Field(
        None, description="HTTPS at the gateway's front door (left out: plain HTTP)."
    )
    residency: dict[frontdoor.ZoneName, tuple[fields.FailoverEntry, ...]] = Field(
        default_factory=dict,
        description="Zones by name, each a list of placement ids (provider/region); a request in"
        f" a zone (`{frontdoor.RESIDENCY_HEADER}` header or its API token) is served there only.",
    )

    @model_validator(mode="after")
    def _check(self) -> TrafficSpec:
        rules.raise_if(rules.check_traffic(self))
        return self


class StateSpec(Model):
    """`spec.state`: the control plane's database (SQLite, or PostgreSQL such as Aurora)."""

    url: str | None = Field(
        None, description="Default: sqlite in the state directory ($CROSSCLOUD_HOME/state.db)."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(_URL_SCHEMES) or len(value) <= len("sqlite:///"):
            shown = _PASSWORD.sub(r"\1:***@", value)
            raise ValueError(
                f"{shown!r} is not a state URL; write sqlite:///path/state.db or"
                " postgresql://user@host:5432/db (Aurora PostgreSQL works)"
            )
        return value


class Spread(Model):
    """`optimizer.spread`: redundancy the optimizer must keep."""

    min_clouds: int = Field(1, ge=1, le=len(providers.PROVIDERS))


class OptimizerSpec(Model):
    """`spec.optimizer`: choices open to the optimizer for `placements: auto` and for
    placements without a region or instance type."""

    providers: tuple[fields.Provider, ...] = Field((), description="Empty: any provider.")
    regions: tuple[fields.RegionChoice, ...] = Field((), description="Empty: any region.")
    spot: bool = False
    max_hourly_price: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="USD per hour per service."
    )
    spread: Spread = Field(default_factory=Spread)

    @model_validator(mode="after")
    def _check(self) -> OptimizerSpec:
        rules.raise_if(rules.check_optimizer(self))
        return self
