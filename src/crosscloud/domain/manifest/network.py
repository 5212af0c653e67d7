"""`spec.placements[].network`: a local region as a network host of its own (a network
namespace behind a veth pair), with an optional link profile to rehearse distance."""

from __future__ import annotations

from pydantic import Field, model_validator

from crosscloud.domain.manifest import fields, rules
from crosscloud.domain.manifest.base import Model


class NetworkSpec(Model):
    """`network`: run a local placement's replicas in a network namespace of their own
    (needs root and `ip`; without them the placement shares 127.0.0.1 and `status` says so)."""

    isolated: bool = Field(False, description="A namespace and address of its own.")
    latency: fields.Duration = Field(
        0.0, description="Added round-trip time on the region's link (a user-space relay)."
    )
    jitter: fields.Duration = Field(
        0.0, description="Up to this much more or less than `latency`, each round trip."
    )

    @model_validator(mode="after")
    def _check(self) -> NetworkSpec:
        found: list[rules.Violation] = []
        if (self.latency or self.jitter) and not self.isolated:
            why = "latency and jitter need isolated: true (a link to add them to)"
            found.append((("isolated",), why))
        if self.jitter > self.latency:
            why = (
                f"jitter ({self.jitter:g}s) must be at most latency ({self.latency:g}s):"
                " a round trip cannot be shorter than the link itself"
            )
            found.append((("jitter",), why))
        rules.raise_if(found)
        return self
