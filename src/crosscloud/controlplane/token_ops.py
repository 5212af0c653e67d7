"""`crosscloud token create|update|list|revoke` on the control plane's side.

The token is returned once, by `create`, and never stored: the store keeps its SHA-256
and last 4 characters, the gateway's config file only the hash. Every change is pushed
to the gateway at once (config file + SIGHUP), so a revoked token fails from the next
request the gateway reads after the signal.

A deployment is open (no token needed) until its first token is created; from then on
every one of its services needs a token, even after all tokens are revoked (revoking a
leaked token must never open the service). `down` keeps a deployment's tokens, so a later
`up` of the same name is not open: only `token revoke` ends a token.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from crosscloud import errors
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import tokens

_NAME_MAX = 100


def create(shared: Shared, body: dict[str, Any], *, publish: Callable[[], None]) -> dict[str, Any]:
    """A new token for a deployment (some of its services, or all); `publish` pushes the
    tokens to the gateway before this returns."""
    deployment = str(body["deployment"])
    services = tuple(sorted({str(s) for s in body.get("services") or ()}))
    quota = quota_of(body.get("quota"), tokens.Quota())
    zone = body.get("residency") or None
    with shared.lock:
        _check_target(shared, deployment, services)
        if zone is not None:
            _check_zone(shared, deployment, str(zone))
        token_id, text = tokens.new_token(
            secrets.token_bytes(tokens.ID_BYTES), secrets.token_bytes(tokens.SECRET_BYTES)
        )
        name = str(body.get("name") or f"token-{token_id[:4]}")
        if len(name) > _NAME_MAX or not name.isprintable():
            raise errors.UserError(f"--name must be printable, at most {_NAME_MAX} characters")
        record = tokens.record_for(
            text,
            token_id=token_id,
            deployment=deployment,
            name=name,
            services=services,
            now=shared.clock(),
            quota=quota,
            residency=None if zone is None else str(zone),
        )
        shared.store.add_token(record)
        scope = ", ".join(services) if services else "every service"
        if zone is not None:
            scope += f", residency zone {zone}"
        shared.event(deployment, "TokenCreated", f"{token_id} ({name}) for {scope}")
        publish()
    return {**describe(record), "token": text}


def _check_target(shared: Shared, deployment: str, services: tuple[str, ...]) -> None:
    found = {dep.name: dep.spec for dep in shared.deployments()}
    spec = found.get(deployment)
    if spec is None:
        known = ", ".join(sorted(found)) or "none"
        raise errors.UserError(f"no deployment {deployment!r}; deployments: {known}")
    names = {s.name for s in spec.spec.services}
    unknown = [s for s in services if s not in names]
    if unknown:
        raise errors.UserError(
            f"deployment {deployment!r} has no service(s) {unknown};"
            f" its services: {', '.join(sorted(names))}"
        )


def quota_of(given: Any, base: tokens.Quota) -> tokens.Quota:
    """`base` with the limits in `given` (API names: rps, burst, concurrency,
    tokensPerMinute; null clears one; {"clear": true} clears all first); UserError when a
    limit is out of range."""
    if given is None:
        return base
    if not isinstance(given, dict):
        raise errors.UserError(
            "quota must be an object of rps, burst, concurrency, tokensPerMinute"
        )
    unknown = sorted(set(given) - {"rps", "burst", "concurrency", "tokensPerMinute", "clear"})
    if unknown:
        raise errors.UserError(f"unknown quota field(s) {unknown}")
    merged = {} if given.get("clear") else base.as_dict()
    merged.update({k: v for k, v in given.items() if k != "clear"})
    try:
        quota = tokens.Quota.from_dict({k: v for k, v in merged.items() if v is not None})
    except (TypeError, ValueError) as exc:
        raise errors.UserError(f"quota: {exc}") from None
    problems = quota.problems()
    if problems:
        raise errors.UserError("; ".join(problems))
    return quota


def update(shared: Shared, body: dict[str, Any], *, publish: Callable[[], None]) -> dict[str, Any]:
    """Change a token's quota; `publish` pushes it to the gateway before this returns."""
    token_id = str(body["id"])
    with shared.lock:
        record = shared.store.get_token(token_id)
        if record is None or not record.active:
            state = "revoked" if record is not None else "unknown"
            raise errors.UserError(
                f"token {token_id!r} is {state}; `crosscloud token list` shows ids"
            )
        quota = quota_of(body.get("quota"), record.quota)
        shared.store.set_quota(token_id, quota)
        limits = ", ".join(f"{k} {v}" for k, v in quota.as_dict().items()) or "no limits"
        shared.event(record.deployment, "TokenUpdated", f"{token_id} ({record.name}): {limits}")
        publish()
        updated = shared.store.get_token(token_id) or record
    return {**describe(updated), "message": f"token {token_id}: {limits}"}


def _check_zone(shared: Shared, deployment: str, zone: str) -> None:
    """A token is bound only to a zone its deployment declares (`traffic.residency`)."""
    spec = {dep.name: dep.spec for dep in shared.deployments()}[deployment]
    zones = spec.spec.traffic.residency
    if zone not in zones:
        known = ", ".join(sorted(zones)) or "none (spec.traffic.residency)"
        raise errors.UserError(
            f"deployment {deployment!r} has no residency zone {zone!r}; its zones: {known}"
        )


def list_all(shared: Shared, query: dict[str, Any]) -> dict[str, Any]:
    deployment = query.get("deployment") or None
    return {"tokens": [describe(t) for t in shared.store.list_tokens(deployment=deployment)]}


def revoke(shared: Shared, body: dict[str, Any], *, publish: Callable[[], None]) -> dict[str, Any]:
    """Revoke a token; `publish` pushes the change to the gateway before this returns."""
    token_id = str(body["id"])
    with shared.lock:
        record = shared.store.get_token(token_id)
        if record is None:
            raise errors.UserError(f"no token {token_id!r}; `crosscloud token list` shows ids")
        if not shared.store.revoke_token(token_id, at=shared.clock()):
            return {**describe(record), "message": f"token {token_id} was already revoked"}
        shared.event(record.deployment, "TokenRevoked", f"{token_id} ({record.name})")
        publish()
        revoked = shared.store.get_token(token_id) or record
    return {**describe(revoked), "message": f"revoked {token_id}; the gateway refuses it now"}


def describe(record: tokens.TokenRecord) -> dict[str, Any]:
    """What `token list` shows: never the token nor its hash."""
    return {
        "id": record.id,
        "deployment": record.deployment,
        "name": record.name,
        "services": list(record.services),
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
        "last4": record.last4,
        "quota": record.quota.as_dict(),
        "residency": record.residency,
    }


def auth_mode(shared: Shared, deployment: str) -> dict[str, Any]:
    """For `status`: whether the deployment's services need a token, and how many work."""
    found = shared.store.list_tokens(deployment=deployment)
    return {
        "mode": "token" if found else "open",
        "active_tokens": sum(1 for t in found if t.active),
    }
