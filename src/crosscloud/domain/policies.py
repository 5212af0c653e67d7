"""The names of the routing policies, declared once: the manifest (`spec.traffic.policy`),
the gateway's config file, the Kubernetes renderer (Istio's load balancer) and the router
(`planning/routing.py`, which holds what each one does) all read them from here."""

from __future__ import annotations

import typing
from typing import Literal

from crosscloud.domain import quantity

Policy = Literal["round-robin", "least-request", "latency", "prefix-affinity"]
#: Every policy, in the order they are documented.
POLICIES: tuple[Policy, ...] = typing.get_args(Policy)
DEFAULT: Policy = "least-request"


def check(name: str) -> Policy:
    """`name` when it is a policy; ValueError naming the nearest one otherwise."""
    for policy in POLICIES:
        if name == policy:
            return policy
    raise ValueError(unknown(name))


def unknown(name: str) -> str:
    """Why `name` is refused: not a policy, the nearest one, and the list."""
    near = quantity.did_you_mean(name, POLICIES)
    hint = f"; did you mean {near!r}?" if near else ""
    return f"{name!r} is not a routing policy{hint} (expected {', '.join(POLICIES)})"
