"""The single route registry: what the router serves and what the OpenAPI document says.

Each view module declares its routes as ``Route`` values; ``setup_api`` adds them
to the aiohttp router and ``openapi.build_document`` describes the very same
tuple, so a route cannot exist without being documented (or the reverse).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp.typedefs import Handler
from pydantic import BaseModel

ParamLocation = Literal["path", "query", "header"]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    location: ParamLocation
    schema: Mapping[str, Any]
    required: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """One documented response: a JSON body model (or none) and the headers it carries."""

    description: str
    model: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> description


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    description: str = ""
    params: tuple[Param, ...] = ()
    body: type[BaseModel] | None = None
    replies: Mapping[int, Reply] = field(default_factory=dict)
    # Problem statuses this route can answer with, beyond the ones every protected route has.
    problems: tuple[int, ...] = ()
    public: bool = False


ID_PATTERN = r"^[A-Za-z0-9._:@-]+$"


def id_param(name: str, what: str, max_length: int) -> Param:
    return Param(
        name,
        "path",
        {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": ID_PATTERN},
        required=True,
        description=f"The {what} id chosen by the host app.",
    )


IF_MATCH = Param(
    "If-Match",
    "header",
    {"type": "string"},
    description='Only act if the current version matches, e.g. `"3"` (412 otherwise).',
)
LIMIT = Param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    description="Page size.",
)
CURSOR = Param(
    "cursor",
    "query",
    {"type": "string"},
    description="Opaque cursor from the previous page's `next_cursor`.",
)
