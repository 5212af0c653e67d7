"""The CloudDeployment manifest: pydantic models, the loader with positioned errors, and
the JSON Schema. Import this package (`from crosscloud.domain import manifest`)."""

from __future__ import annotations

from crosscloud.domain.manifest.load import load_manifest
from crosscloud.domain.manifest.model import (
    API_VERSION,
    KIND,
    Manifest,
    Metadata,
    Placement,
    PlacementService,
    ResourceOverrides,
    Scaling,
    SecretRef,
    ServiceSpec,
    Spec,
)
from crosscloud.domain.manifest.schema import json_schema
from crosscloud.domain.manifest.security import SecuritySpec
from crosscloud.domain.manifest.spot import SpotSpec, domain_of
from crosscloud.domain.manifest.traffic import (
    OptimizerSpec,
    OutlierDetection,
    PrefixAffinity,
    Retries,
    Spread,
    StateSpec,
    TrafficLimits,
    TrafficSpec,
)

__all__ = [
    "API_VERSION",
    "KIND",
    "Manifest",
    "Metadata",
    "OptimizerSpec",
    "OutlierDetection",
    "Placement",
    "PlacementService",
    "PrefixAffinity",
    "ResourceOverrides",
    "Retries",
    "Scaling",
    "SecretRef",
    "SecuritySpec",
    "ServiceSpec",
    "Spec",
    "SpotSpec",
    "Spread",
    "StateSpec",
    "TrafficLimits",
    "TrafficSpec",
    "domain_of",
    "json_schema",
    "load_manifest",
]
