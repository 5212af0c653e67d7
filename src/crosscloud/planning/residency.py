"""Pure residency decisions: which zone a request is in, and which placements may serve it.

A zone (`spec.traffic.residency`) is a named set of placement ids. A request is in a zone
when its API token is bound to one (`crosscloud token create --residency eu`) or, for a
token without a zone (or no token), when it names one in the `X-Crosscloud-Residency`
header. A token's zone cannot be escaped by the header: a header naming another zone is
refused. Once in a zone, only the zone's placements may serve the request: on the first
try, on every retry and on failover alike (the gateway builds its picking plan for a zone
from `may_serve`, and never falls back to the whole service).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Zones = Mapping[str, Iterable[str]]
Refusal = tuple[int, str]


def may_serve(placement: str, zone: str | None, zones: Zones) -> bool:
    """Whether a replica at `placement` may serve a request in `zone` (None: no zone,
    any placement). A zone the service does not declare allows nothing."""
    if zone is None:
        return True
    members = zones.get(zone)
    return members is not None and placement in members


def serving(placements: Iterable[str], zone: str | None, zones: Zones) -> list[str]:
    """The placements of `placements` that may serve a request in `zone`, in order."""
    return [p for p in placements if may_serve(p, zone, zones)]


def request_zone(
    *, header: str | None, token_zone: str | None, zones: Zones
) -> tuple[str | None, Refusal | None]:
    """(zone, None) for the zone a request is in (None: none), or (None, refusal).

    The token's zone wins: a header may repeat it but not name another. A zone the
    service does not declare is refused (400 from a header: the client asked for
    residency the gateway cannot give; 403 for a token whose zone was removed since)."""
    known = ", ".join(sorted(zones)) or "none declared"
    if token_zone is not None:
        if header is not None and header != token_zone:
            return None, (
                403,
                f"this API token is bound to residency zone {token_zone!r};"
                f" the request asked for {header!r}",
            )
        if token_zone not in zones:
            return None, (
                403,
                f"this API token is bound to residency zone {token_zone!r}, which this"
                f" service does not declare (zones: {known})",
            )
        return token_zone, None
    if header is None:
        return None, None
    if header not in zones:
        return None, (400, f"unknown residency zone {header!r}; zones of this service: {known}")
    return header, None
