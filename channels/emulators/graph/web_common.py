"""Shared request plumbing for the route modules: app keys, caller identity, Prefer, bodies, paging."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .auth import AccessToken, User
from .emulator import GraphEmulator
from .state import Mailbox
from .wire import GraphError

EMULATOR = web.AppKey("graph_emulator", GraphEmulator)
TOKEN = web.RequestKey("graph_emulator_token", AccessToken)
#: Route fragment for the two ways to name the signed-in user's mailbox.
OWNER = "{owner:me|users/[^/]+}"


def emulator_of(request: web.Request) -> GraphEmulator:
    return request.app[EMULATOR]


def token_of(request: web.Request) -> AccessToken:
    token: AccessToken = request[TOKEN]
    return token


def caller(request: web.Request) -> User:
    return emulator_of(request).auth.users[token_of(request).user_id]


def mailbox_for(request: web.Request) -> Mailbox:
    """``me`` or ``users/{id|upn}``; delegated tokens may only reach their own mailbox."""
    emu = emulator_of(request)
    owner = request.match_info.get("owner", "me")
    me = caller(request)
    if owner != "me":
        key = owner.split("/", 1)[1]
        user = emu.auth.find_user(key)
        if user is None:
            # What Graph says for the SDK's unreplaced ``me-token-to-replace`` placeholder, too.
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
        if user.id != me.id:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    return emu.mailbox(me.id)


def owner_path(request: web.Request) -> str:
    return request.match_info.get("owner", "me")


def base_url(request: web.Request) -> str:
    return str(request.url.origin())


def prefer(request: web.Request) -> dict[str, str]:
    """``Prefer: odata.maxpagesize=5, outlook.timezone="Pacific Standard Time"`` → dict."""
    out: dict[str, str] = {}
    for header in request.headers.getall("Prefer", []):
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key:
                out[key.strip().lower()] = value.strip().strip('"')
    return out


def out_zone(request: web.Request) -> str:
    return prefer(request).get("outlook.timezone") or "UTC"


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads) if request.can_read_body else {}
    except json.JSONDecodeError as err:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from err
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
    return body


def graph_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        data, status=status, headers=headers, content_type="application/json", dumps=json.dumps
    )


def query(request: web.Request, name: str) -> str | None:
    """OData system query options are case-insensitive (``$deltaToken`` = ``$deltatoken``)."""
    lowered = name.lower()
    return next((v for k, v in request.query.items() if k.lower() == lowered), None)


def int_query(request: web.Request, name: str, default: int) -> int:
    raw = query(request, name)
    if raw is None:
        return default
    try:
        return max(0, int(raw))
    except ValueError as err:
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for {name}.") from err


def collection(request: web.Request, items: list[dict[str, Any]], context: str) -> web.Response:
    """A ``$top``/``$skip`` paged collection with ``@odata.nextLink`` like Graph list endpoints."""
    top = int_query(request, "$top", 10) or 10
    skip = int_query(request, "$skip", 0)
    page = items[skip : skip + top]
    body: dict[str, Any] = {"@odata.context": f"{base_url(request)}/v1.0/$metadata#{context}", "value": page}
    if skip + top < len(items):
        url = request.url.update_query({"$skip": str(skip + top), "$top": str(top)})
        body["@odata.nextLink"] = str(url)
    return graph_json(body)
