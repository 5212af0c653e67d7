"""Turning a request into handler arguments, and a handler failure into an HTTP answer.

Validation is pydantic's (straight from the raw JSON bytes); errors name the field path
and the expected type, and a failure never carries a traceback to the client."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

import pydantic

from crosscloud import errors
from crosscloud.runtime import asgi
from crosscloud.runtime.batching import BatchResultError
from crosscloud.sdk.definition import EndpointDefinition

log = logging.getLogger("crosscloud.runtime")


def body_kwargs(ep: EndpointDefinition, body: bytes) -> dict[str, Any]:
    try:
        model = ep.request_model.model_validate_json(body or b"{}")
    except pydantic.ValidationError as exc:
        raise _validation_error(exc) from None
    return dict(model.__dict__)


def query_kwargs(ep: EndpointDefinition, scope: asgi.Scope) -> dict[str, Any]:
    query = parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    lists = ep.list_params
    raw = {k: (v if k in lists else v[-1]) for k, v in query.items()}
    try:
        model = ep.request_model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise _validation_error(exc) from None
    return dict(model.__dict__)


def _validation_error(exc: pydantic.ValidationError) -> errors.HTTPError:
    problems = exc.errors(include_url=False, include_input=False)
    if problems and problems[0]["type"] == "json_invalid":
        return errors.BadRequest(400, "invalid JSON", problems[0]["msg"])
    detail = [
        {"field": _field_path(p["loc"]), "message": p["msg"], "type": p["type"]} for p in problems
    ]
    return errors.ValidationFailed(422, "validation failed", detail)


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(body)"


def failure(ep: EndpointDefinition, exc: Exception) -> tuple[int, str, str]:
    """Map a handler failure to (status, error, detail); the traceback goes to the log only."""
    if isinstance(exc, TimeoutError):
        return 504, "timeout", f"/{ep.name} took longer than its timeout of {ep.options.timeout}s"
    if isinstance(exc, errors.HTTPError):
        return exc.status, exc.error, str(exc.detail)
    if isinstance(exc, errors.UserError):
        return 400, "bad request", str(exc)
    if isinstance(exc, BatchResultError):
        log.error("/%s: %s", ep.name, exc)
        return 500, "batch contract broken", str(exc)
    log.error("/%s raised", ep.name, exc_info=exc)
    return 500, "handler error", f"{type(exc).__name__}: {exc}"
