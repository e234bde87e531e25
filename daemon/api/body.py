"""Reading requests: bounded JSON bodies into pydantic models, query parameters, page cursors.

Bodies are capped at ``MAX_BODY_BYTES``: a larger Content-Length is refused up
front, and a body without one (chunked) is counted while it streams in, so a
client can never make us buffer more than the cap.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any, Final, TypeVar

from aiohttp import hdrs, web
from pydantic import BaseModel, ValidationError

from calsync.errors import InvalidInput
from daemon.api.problems import ApiProblem, FieldError, validation_problem
from daemon.api.registry import ID_PATTERN

MAX_BODY_BYTES: Final = 256 * 1024
_CHUNK: Final = 64 * 1024
_ID: Final = re.compile(ID_PATTERN)

M = TypeVar("M", bound=BaseModel)


def _too_large() -> ApiProblem:
    return ApiProblem(413, f"The request body must not exceed {MAX_BODY_BYTES} bytes.")


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    total = 0
    while chunk := await request.content.read(_CHUNK):
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def field_errors(err: ValidationError) -> list[FieldError]:
    """pydantic's errors with their location as a dotted field name (``client.email``)."""
    return [
        FieldError(".".join(str(part) for part in e["loc"]), e["msg"].removeprefix("Value error, "))
        for e in err.errors(include_url=False)
    ]


async def read_model(request: web.Request, model: type[M]) -> M:
    """The JSON body validated into ``model``: 415, 413, 400 or 422 problems otherwise."""
    if not _is_json(request.content_type):
        raise ApiProblem(
            415,
            f"Send the body as application/json, not {request.headers.get(hdrs.CONTENT_TYPE) or 'nothing'}.",
        )
    raw = await read_body(request)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ApiProblem(
            400, f"The body is not valid JSON: {err}.", type_="urn:calsync:problem:malformed-json"
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise validation_problem(field_errors(err)) from None


def path_id(request: web.Request, max_length: int) -> str:
    """The ``{id}`` path segment, checked against the id alphabet and length (422 field ``id``)."""
    value = request.match_info["id"]
    if not (1 <= len(value) <= max_length and _ID.match(value)):
        raise InvalidInput("id", f"must be 1-{max_length} characters of A-Z a-z 0-9 . _ : @ -")
    return value


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(name, "must be an integer") from None
    if not low <= value <= high:
        raise InvalidInput(name, f"must be between {low} and {high}")
    return value


def query_required(request: web.Request, name: str) -> str:
    raw = request.query.get(name, "")
    if not raw:
        raise InvalidInput(name, "is required")
    return raw


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(request: web.Request) -> dict[str, Any] | None:
    """The position in a ``cursor`` query parameter made by ``encode_cursor``, or None."""
    raw = request.query.get("cursor")
    if not raw:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        decoded = None
    if not isinstance(decoded, dict):
        raise InvalidInput("cursor", "is not a cursor this API returned")
    return decoded


def cursor_instant(position: dict[str, Any], key: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(position[key]))
    except (KeyError, ValueError):
        raise InvalidInput("cursor", "is not a cursor this API returned") from None
    if value.tzinfo is None:
        raise InvalidInput("cursor", "is not a cursor this API returned")
    return value


def cursor_text(position: dict[str, Any], key: str) -> str:
    value = position.get(key)
    if not isinstance(value, str):
        raise InvalidInput("cursor", "is not a cursor this API returned")
    return value


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(data), content_type="application/json", headers=headers
    )
