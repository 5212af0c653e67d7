"""`spec.security`: mutual TLS between the gateway and replicas, and between a
deployment's services. On unless a manifest turns it off, by name."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from crosscloud.domain.manifest import fields
from crosscloud.domain.manifest.base import Model

#: Shortest workload certificate life a manifest may ask for (renewed at half of it).
MIN_LIFETIME = 10.0


class SecuritySpec(Model):
    """`spec.security`: how the deployment's traffic is protected."""

    mtls: Literal["enabled", "disabled"] = Field(
        "enabled",
        description="Mutual TLS on every hop to and between replicas; `disabled` sends"
        " plaintext (and `status` says so).",
    )
    certificate_lifetime: fields.Duration = Field(
        24 * 3600.0,
        description="Life of workload certificates (at least 10s); renewed at half of it.",
    )

    @field_validator("certificate_lifetime")
    @classmethod
    def _lifetime(cls, value: float) -> float:
        if value < MIN_LIFETIME:
            raise ValueError(f"must be at least {MIN_LIFETIME:g}s (got {value:g}s)")
        return value

    @property
    def enabled(self) -> bool:
        return self.mtls == "enabled"
