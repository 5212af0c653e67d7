"""Pure decisions about certificates: when a leaf is due for renewal, which root signs,
which roots are trusted. `now` (epoch seconds) is always an argument.

A root rotation is staged so that no handshake fails: the new root joins the trust bundle
at once but signs nothing until `activate_at` (time for every replica and the gateway to
load the new bundle); from then on leaves are re-issued by it; the old root stays trusted
until `retire_at`, by when every leaf it signed has been replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Leaves live 24 h (Istio's workload certificates) and are renewed at half their life.
DEFAULT_LIFETIME = 24 * 3600.0
RENEW_AT = 0.5
#: How long a new root is trusted before it signs (replicas poll their files every second,
#: the gateway reloads on the control plane's SIGHUP).
DEFAULT_PROPAGATION = 5.0
#: How long a rotated-out root stays trusted after the new one starts signing.
DEFAULT_OVERLAP = 3600.0


@dataclass(frozen=True)
class RootInfo:
    """A root as the CA records it: when it starts signing and stops being trusted."""

    id: str
    activate_at: float
    retire_at: float | None = None


@dataclass(frozen=True)
class LeafInfo:
    """What matters of an issued leaf for renewal."""

    not_before: float
    not_after: float
    issuer: str  # the id of the root that signed it
    identity: str  # its URI SAN


def renewal_due(leaf: LeafInfo, *, now: float, fraction: float = RENEW_AT) -> bool:
    """True once `fraction` of the leaf's life has passed (or it already expired)."""
    life = leaf.not_after - leaf.not_before
    return now >= leaf.not_before + life * fraction or now >= leaf.not_after


def trusted(roots: Sequence[RootInfo], *, now: float) -> list[RootInfo]:
    """The roots of the trust bundle: every one not retired yet, in the given order."""
    return [r for r in roots if r.retire_at is None or now < r.retire_at]


def signer(roots: Sequence[RootInfo], *, now: float) -> RootInfo | None:
    """The root that signs new leaves: the latest active one still trusted (of two that
    became active at the same moment, the one added last)."""
    active = [r for r in trusted(roots, now=now) if r.activate_at <= now]
    return max(reversed(active), key=lambda r: r.activate_at) if active else None


def needs_leaf(
    leaf: LeafInfo | None, *, identity: str, roots: Sequence[RootInfo], now: float
) -> bool:
    """Whether a new leaf must be issued: none yet, another identity, half its life
    gone, or signed by a root that no longer signs."""
    if leaf is None or leaf.identity != identity:
        return True
    current = signer(roots, now=now)
    if current is not None and leaf.issuer != current.id:
        return True
    return renewal_due(leaf, now=now)


def rotated(
    roots: Sequence[RootInfo],
    new_id: str,
    *,
    now: float,
    propagation: float = DEFAULT_PROPAGATION,
    overlap: float = DEFAULT_OVERLAP,
) -> list[RootInfo]:
    """The roots after adding `new_id`: it signs after `propagation`; every root trusted
    now stays trusted `overlap` past that; roots already retired are dropped."""
    start = now + propagation
    kept = [
        RootInfo(r.id, r.activate_at, start + overlap if r.retire_at is None else r.retire_at)
        for r in trusted(roots, now=now)
    ]
    return [*kept, RootInfo(new_id, start)]
