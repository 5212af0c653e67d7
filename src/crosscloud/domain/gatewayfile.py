"""The gateway's config file as pydantic models: the one schema the control plane builds
(controlplane/gatewaylink.py) and the gateway parses (gateway/config.py), with its JSON
Schema (`crosscloud schema gateway`). Keys are camelCase as written; unknown keys are
refused. Durations as in manifests (250ms, 10s, 5m), sizes as 32Ki or bytes.

    listen:
      host: 127.0.0.1
      port: 8080
      adminPort: 8081                      # optional: /metrics, /-/stats, /healthz in plain HTTP
      tls:                                 # optional: HTTPS (adapters/frontdoor.py)
        certFile: /path/gateway.pem        # the certificate chain, PEM
        keyFile: /path/gateway-key.pem
        clientCerts: none                  # none | optional | required
        clientCaFile: /path/clients-ca.pem # needed for optional and required
        handshakeTimeout: 10s              # a TLS handshake not done by then: closed
    services:
      - name: echo
        hosts: [echo.example.com]          # optional: route by Host header too
        policy: least-request              # round-robin | least-request | latency | prefix-affinity
        models: [tiny-chat]                # OpenAI models: /v1/* routed by the body's model
        discoverModels: false              # or learn them from the replicas' GET /v1/models
        affinity: {cacheThreshold: 0.5, balanceAbsThreshold: 2, balanceRelThreshold: 1.0001}
        failover: [local/a, local/b]       # placement order for locality failover
        split: {v1: 90, v2: 10}            # optional canary split by version
        timeout: 30s
        retries: {attempts: 2, perTryTimeout: 10s}
        outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
        healthCheck: {path: /readyz, interval: 5s, timeout: 1s}
        hold: {maxRequests: 100, timeout: 30s, retryAfter: 5s}  # while no replica (hold.py)
        auth: {tokens: [{id: 0123456789ab, sha256: <64 hex digits>,  # optional, see auth.py
                         quota: {rps: 10, burst: 20, concurrency: 4, tokensPerMinute: 90000},
                         residency: eu}]}  # the token's zone (planning/residency.py)
        residency: {eu: [local/a], us: [local/b]}  # zones: placements that may serve them
        identity: spiffe://crosscloud.local/demo/echo  # the URI SAN replicas must present
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
    upstreamTls:                           # optional: mutual TLS to every replica
      cert: /path/gateway.pem              # the gateway's certificate (and key, unless `key`)
      ca: /path/bundle.pem                 # the roots replicas' certificates must chain to
    mesh: {host: 127.0.0.1, port: 8443}    # optional: mTLS listener for services calling
                                           # services (a workload certificate, no token)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic

from crosscloud.domain import policies, quantity
from crosscloud.domain.manifest import fields

SCHEMA_ID = "https://crosscloud.dev/schemas/v1/gateway.json"
DEFAULT_MAX_BODY = 64 * 1024 * 1024

Duration = Annotated[
    float,
    pydantic.BeforeValidator(quantity.parse_duration),
    pydantic.WithJsonSchema(fields.DURATION_SCHEMA),
]
Size = Annotated[
    int,
    pydantic.BeforeValidator(quantity.parse_memory),
    pydantic.WithJsonSchema(fields.SIZE_SCHEMA),
]


class FileModel(pydantic.BaseModel):
    """A part of the file: unknown keys refused, built by name or by its camelCase key."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class UpstreamFile(FileModel):
    """`services[].upstreams[]`: one replica's address and where it runs."""

    id: str
    host: str = "127.0.0.1"
    port: int = pydantic.Field(ge=1, le=65535)
    placement: str = "local/default"
    version: str = ""
    weight: int = pydantic.Field(default=1, ge=1, le=1000)
    draining: bool = False


class RetriesFile(FileModel):
    """`services[].retries`: tries after the first, and the time each one may take."""

    attempts: int = pydantic.Field(default=2, ge=0, le=10)
    per_try_timeout: Duration = pydantic.Field(default=10.0, alias="perTryTimeout")


class OutlierFile(FileModel):
    """`services[].outlierDetection`: passive ejection of replicas that keep failing."""

    consecutive_5xx: int = pydantic.Field(default=5, ge=1, alias="consecutive5xxErrors")
    interval: Duration = 10.0
    base_ejection_time: Duration = pydantic.Field(default=30.0, alias="baseEjectionTime")
    max_ejection_time: Duration = pydantic.Field(default=300.0, alias="maxEjectionTime")
    max_ejection_percent: float = pydantic.Field(
        default=10.0, ge=0, le=100, alias="maxEjectionPercent"
    )


class HealthFile(FileModel):
    """`services[].healthCheck`: the active probe of every upstream."""

    path: str = "/readyz"
    interval: Duration = 5.0
    timeout: Duration = 1.0
    enabled: bool = True


class QuotaFile(FileModel):
    """`services[].auth.tokens[].quota`: what the token may send (each optional)."""

    rps: float | None = pydantic.Field(default=None, gt=0, allow_inf_nan=False)
    burst: int | None = pydantic.Field(default=None, ge=1)
    concurrency: int | None = pydantic.Field(default=None, ge=1)
    tokens_per_minute: int | None = pydantic.Field(default=None, ge=1, alias="tokensPerMinute")


class TokenFile(FileModel):
    """An accepted API token: its public id, the SHA-256 of its text, and its quota."""

    id: str = pydantic.Field(pattern=r"^[0-9a-f]{12}$")
    sha256: str = pydantic.Field(pattern=r"^[0-9a-f]{64}$")
    quota: QuotaFile | None = None
    residency: str | None = None  # the zone every request with this token is kept in


class AuthFile(FileModel):
    """`services[].auth`: present means closed; a bearer token of `tokens` opens it."""

    tokens: list[TokenFile] = []


class HoldFile(FileModel):
    """`services[].hold`: requests held while the service has no replica."""

    max_requests: int = pydantic.Field(default=100, ge=0, alias="maxRequests")
    timeout: Duration = 30.0
    retry_after: Duration = pydantic.Field(default=5.0, alias="retryAfter")


class AffinityFile(FileModel):
    """`services[].affinity`: the thresholds of `policy: prefix-affinity` (SGLang's router's
    names): a request goes to the replica holding the longest prefix of its prompt when
    that covers `cacheThreshold` of it and that replica has at most `balanceAbsThreshold`
    requests more than the least loaded (or at most `balanceRelThreshold` times as many)."""

    cache_threshold: float = pydantic.Field(default=0.5, ge=0, le=1, alias="cacheThreshold")
    balance_abs: int = pydantic.Field(default=2, ge=0, alias="balanceAbsThreshold")
    balance_rel: float = pydantic.Field(default=1.0001, ge=1, alias="balanceRelThreshold")
    capacity: int = pydantic.Field(default=8192, ge=1, le=1_048_576, alias="blocksPerReplica")


ModelName = Annotated[
    str, pydantic.Field(min_length=1, max_length=256, pattern=r"^[^\s\x00-\x1f]+$")
]


class UpstreamTlsFile(FileModel):
    """`upstreamTls`: the gateway's certificate (its key inside unless `key`) and the
    roots that replicas' certificates must chain to. Files are re-read when they change."""

    cert: str = pydantic.Field(min_length=1)
    key: str | None = None
    ca: str = pydantic.Field(min_length=1)


class MeshFile(FileModel):
    """`mesh`: a listener that takes only clients with a workload certificate of the CA;
    such a client may call its own deployment's services without an API token."""

    host: str = "127.0.0.1"
    port: int = pydantic.Field(default=0, ge=0, le=65535)


class ServiceFile(FileModel):
    """`services[]`: one routed service, its replicas and how traffic reaches them."""

    name: str = pydantic.Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    hosts: list[str] = []
    policy: policies.Policy = policies.DEFAULT
    failover: list[str] = []
    split: dict[str, float] = {}
    timeout: Duration = 30.0
    idempotent: bool = True
    retries: RetriesFile = RetriesFile()
    outlier_detection: OutlierFile = pydantic.Field(OutlierFile(), alias="outlierDetection")
    health_check: HealthFile = pydantic.Field(HealthFile(), alias="healthCheck")
    upstreams: list[UpstreamFile] = []
    hold: HoldFile = HoldFile()
    auth: AuthFile | None = None
    models: list[ModelName] = []
    discover_models: bool = pydantic.Field(default=False, alias="discoverModels")
    affinity: AffinityFile = AffinityFile()
    residency: dict[str, list[str]] = {}
    identity: str | None = pydantic.Field(None, pattern=r"^spiffe://[a-z0-9._-]+/\S+$")


ClientCerts = Literal["none", "optional", "required"]


class TlsFile(FileModel):
    """`listen.tls`: the front door serves HTTPS with this certificate; client
    certificates, when asked for, must chain to `clientCaFile`."""

    cert_file: str = pydantic.Field(alias="certFile", min_length=1)
    key_file: str = pydantic.Field(alias="keyFile", min_length=1)
    client_certs: ClientCerts = pydantic.Field(default="none", alias="clientCerts")
    client_ca_file: str | None = pydantic.Field(default=None, alias="clientCaFile")
    handshake_timeout: Duration = pydantic.Field(default=10.0, gt=0, alias="handshakeTimeout")

    @pydantic.model_validator(mode="after")
    def _client_ca(self) -> TlsFile:
        if self.client_certs != "none" and not self.client_ca_file:
            raise ValueError(f"clientCerts {self.client_certs!r} needs clientCaFile")
        return self


class ListenFile(FileModel):
    """`listen`: the gateway's address (port 0: any free one), and TLS when it has any."""

    host: str = "127.0.0.1"
    port: int = pydantic.Field(default=8080, ge=0, le=65535)
    tls: TlsFile | None = None
    #: The gateway's own answers only (no route), plain HTTP on 127.0.0.1: how the control
    #: plane reads metrics and stats when the front door asks for TLS or client certificates.
    admin_port: int | None = pydantic.Field(default=None, ge=0, le=65535, alias="adminPort")


class LimitsFile(FileModel):
    """`limits`: what one client may hold or send (the manifest's `spec.traffic.limits`)."""

    header_timeout: Duration = pydantic.Field(default=10.0, gt=0, alias="headerTimeout")
    body_timeout: Duration = pydantic.Field(default=60.0, gt=0, alias="bodyTimeout")
    idle_timeout: Duration = pydantic.Field(default=75.0, gt=0, alias="idleTimeout")
    max_connections: int = pydantic.Field(default=8192, ge=1, alias="maxConnections")
    max_pipelined: int = pydantic.Field(default=16, ge=1, le=1024, alias="maxPipelined")
    max_header_bytes: Size = pydantic.Field(default=32 * 1024, ge=1024, alias="maxHeaderBytes")
    max_url_bytes: Size = pydantic.Field(default=8 * 1024, ge=256, alias="maxUrlBytes")
    max_headers: int = pydantic.Field(default=100, ge=1, alias="maxHeaders")
    max_body_size: Size = pydantic.Field(default=DEFAULT_MAX_BODY, ge=1, alias="maxBodySize")


class GatewayFile(FileModel):
    """The whole file: where the gateway listens, its client limits and its services."""

    listen: ListenFile = ListenFile()
    limits: LimitsFile = LimitsFile()
    services: list[ServiceFile] = []
    upstream_tls: UpstreamTlsFile | None = pydantic.Field(None, alias="upstreamTls")
    mesh: MeshFile | None = None

    @pydantic.model_validator(mode="after")
    def _tls_for_identities(self) -> GatewayFile:
        if self.upstream_tls is None and (self.mesh or any(s.identity for s in self.services)):
            raise ValueError("`identity` and `mesh` need `upstreamTls` (the gateway's certificate)")
        return self

    def to_json(self) -> dict[str, Any]:
        """The file's content as written: camelCase keys, only the values that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the gateway's config file, keyed as written."""
    schema = GatewayFile.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "crosscloud gateway config",
        **{k: v for k, v in schema.items() if k != "title"},
    }
