"""The OpenAPI 3.1 document of a service and its offline `/docs` page."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import pydantic

from crosscloud.runtime import openai_api
from crosscloud.sdk.definition import EndpointDefinition, ServiceDefinition

_REF = "#/components/schemas/{model}"
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "detail": {}},
    "required": ["error"],
}
_ERRORS = {
    "400": "Invalid JSON or a bad parameter",
    "401": "Missing or wrong bearer token",
    "413": "Body over the size limit",
    "422": "The body does not match the schema",
    "500": "The handler raised",
    "503": "Not ready or draining",
    "504": "The handler ran past its timeout",
}


def document(definition: ServiceDefinition) -> dict[str, Any]:
    """OpenAPI 3.1: one operation per endpoint, schemas from the handlers' type hints."""
    components: dict[str, Any] = {"Error": _ERROR}
    paths = {
        f"/{ep.name}": {ep.method.lower(): _operation(ep, components)}
        for ep in definition.endpoints
    }
    if definition.llm:
        paths |= _llm_paths(definition, components)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": definition.name, "version": "1", "description": definition.doc},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    return doc


def _schema(type_: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = pydantic.TypeAdapter(type_).json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    return schema


def _operation(ep: EndpointDefinition, components: dict[str, Any]) -> dict[str, Any]:
    request = _schema(ep.request_model, components)
    item = _schema(ep.response_type, components)
    op: dict[str, Any] = {
        "operationId": ep.name,
        "summary": ep.doc.splitlines()[0] if ep.doc else ep.name,
        "description": ep.doc,
        "x-crosscloud": {
            "batch": ep.options.batch,
            "stream": ep.options.stream,
            "maxBatchSize": ep.options.max_batch_size,
            "timeout": ep.options.timeout,
        },
        "responses": {"200": _ok(ep, item)}
        | {code: _error(text) for code, text in _ERRORS.items()},
    }
    if ep.method == "GET":
        props = request.get("properties", {})
        required = set(request.get("required", []))
        op["parameters"] = [
            {"name": n, "in": "query", "required": n in required, "schema": s}
            for n, s in props.items()
        ]
    else:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
    return op


def _llm_paths(definition: ServiceDefinition, components: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI routes: request schemas from the SDK's models; answers in OpenAI's shapes
    (see the OpenAI API reference), as JSON or, with `stream: true`, server-sent events."""
    components["OpenAIError"] = _OPENAI_ERROR
    error = {
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="OpenAIError")}}}
    }
    paths: dict[str, Any] = {
        openai_api.MODELS_PATH: {
            "get": {
                "operationId": "listModels",
                "summary": f"The models served: {', '.join(definition.models)}",
                "responses": {"200": {"description": "OpenAI's model list"}},
            }
        }
    }
    for handler in definition.llm:
        answer = {"type": "object", "description": f"OpenAI's {handler.kind} answer"}
        paths[openai_api.PATHS[handler.kind]] = {
            "post": {
                "operationId": f"openai_{handler.kind}",
                "summary": f"OpenAI {handler.kind} (handler {handler.attr})",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _schema(handler.request_model, components)}
                    },
                },
                "responses": {
                    "200": {
                        "description": "The answer, or with stream: true its chunks",
                        "content": {
                            "application/json": {"schema": answer},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                }
                | {code: {"description": text} | error for code, text in _OPENAI_ERRORS.items()},
            }
        }
    return paths


_OPENAI_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
            "required": ["message", "type", "param", "code"],
        }
    },
    "required": ["error"],
}
_OPENAI_ERRORS = {
    "400": "A body that does not match (param names the field)",
    "401": "Missing or wrong bearer token",
    "404": "No such model (code model_not_found)",
    "500": "The handler or the model failed",
    "503": "Not ready or draining",
}


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": _REF.format(model="Error")}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ok(ep: EndpointDefinition, schema: dict[str, Any]) -> dict[str, Any]:
    if not ep.options.stream:
        return {
            "description": "The handler's result",
            "content": {"application/json": {"schema": schema}},
        }
    kind = "text/plain" if ep.text_stream else "application/x-ndjson"
    return {
        "description": "A stream of items (server-sent events when asked for text/event-stream)",
        "content": {kind: {"schema": schema}, "text/event-stream": {"schema": {"type": "string"}}},
    }


@functools.cache
def docs_page() -> bytes:
    """The interactive docs page; shipped in the package, so it needs no internet."""
    return resources.files("crosscloud.runtime").joinpath("docs.html").read_bytes()
