"""The OpenAPI 3.1 document, built from the route registry and the pydantic wire models.

Nothing here is written by hand per route: paths, parameters, bodies and
responses all come from ``Route`` values, so the document and the router agree
by construction (a test checks it anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Final, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from daemon.api.problems import PROBLEM_CONTENT_TYPE
from daemon.api.registry import Param, Route
from daemon.api.schemas import Problem

OPENAPI_VERSION: Final = "3.1.0"
SECURITY_SCHEME: Final = "bearerApiKey"
_REF_TEMPLATE: Final = "#/components/schemas/{model}"
_PROBLEM_DETAIL: Final = {
    400: "The body is not valid JSON.",
    401: "No API key, or an unknown or revoked one.",
    403: "The API key may not do this (read-only, or limited to another organization).",
    404: "No such resource, or not visible to this key.",
    409: "Conflicts with the current state.",
    412: "If-Match does not match the current version.",
    413: "The body exceeds 256 KiB.",
    415: "The body is not application/json.",
    422: "Validation failed; `errors[].field` names each offending field.",
    500: "Unexpected error; `detail` carries a reference for the logs.",
}


def _schemas(routes: Sequence[Route]) -> tuple[dict[tuple[type[BaseModel], str], Any], dict[str, Any]]:
    wanted: dict[tuple[type[BaseModel], Literal["validation", "serialization"]], None] = {}
    for route in routes:
        if route.body is not None:
            wanted[(route.body, "validation")] = None
        for reply in route.replies.values():
            if reply.model is not None:
                wanted[(reply.model, "serialization")] = None
    wanted[(Problem, "serialization")] = None
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = list(wanted)
    refs, definitions = models_json_schema(pairs, ref_template=_REF_TEMPLATE)
    by_model: dict[tuple[type[BaseModel], str], Any] = {}
    for (model, mode), ref in refs.items():
        assert isinstance(model, type) and issubclass(model, BaseModel)
        by_model[(model, mode)] = ref
    return by_model, definitions.get("$defs", {})


def _parameter(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": param.name,
        "in": param.location,
        "required": param.required or param.location == "path",
        "schema": dict(param.schema),
    }
    if param.description:
        out["description"] = param.description
    return out


def _problem(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _PROBLEM_DETAIL.get(status, HTTPStatus(status).phrase),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": _REF_TEMPLATE.format(model="Problem")}}},
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}
    return response


def _operation(route: Route, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.description:
        op["description"] = route.description
    if route.params:
        op["parameters"] = [_parameter(p) for p in route.params]
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    for status, reply in sorted(route.replies.items()):
        entry: dict[str, Any] = {"description": reply.description}
        if reply.model is not None:
            entry["content"] = {"application/json": {"schema": refs[(reply.model, "serialization")]}}
        if reply.headers:
            entry["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in reply.headers.items()
            }
        responses[str(status)] = entry
    problems = set(route.problems) | {500}
    if route.public:
        op["security"] = []
    else:
        problems |= {401} | ({403} if route.method != "GET" else set())
    for status in sorted(problems):
        responses[str(status)] = _problem(status)
    op["responses"] = responses
    return op


def build_document(routes: Sequence[Route], *, version: str, server_url: str | None = None) -> dict[str, Any]:
    refs, definitions = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "calsync host API",
            "version": version,
            "description": "Organizations, profiles and appointments of a calsync daemon. Every error is an "
            "RFC 9457 problem (`application/problem+json`).",
        },
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {SECURITY_SCHEME: {"type": "http", "scheme": "bearer"}},
        },
        "security": [{SECURITY_SCHEME: []}],
        "tags": [{"name": tag} for tag in dict.fromkeys(route.tag for route in routes)],
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
