"""crosscloud: one Python class for a model service, served locally, deployed to several
clouds behind one gateway, and run as a batch job on Spark."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crosscloud.errors import CrossCloudError, HTTPError, UserError
from crosscloud.sdk.resources import Resources
from crosscloud.sdk.service import Service, endpoint

if TYPE_CHECKING:
    from crosscloud.client import Client, call

__version__ = "0.1.0"

__all__ = [
    "Client",
    "CrossCloudError",
    "HTTPError",
    "Resources",
    "Service",
    "UserError",
    "__version__",
    "call",
    "endpoint",
]


def __getattr__(name: str) -> Any:
    # Client pulls in httpx; a replica never needs it, so it loads on first use only
    # (keeps `crosscloud serve` cold start and memory down).
    if name in ("Client", "call"):
        from crosscloud import client

        return getattr(client, name)
    raise AttributeError(f"module 'crosscloud' has no attribute {name!r}")
