"""``GET /v1/channels``: push channel health for operators, filtered and paginated.

An organization-scoped key sees only its organization's channels (asking for another
organization answers an empty page, like an unknown one). The ``state`` is the view
state derived from the stored state and the clock (``handlers.channel_health``);
filtering by it is done in SQL, so pages stay keyset-paginated by soonest expiry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from aiohttp import web
from pydantic import BaseModel

from calsync.errors import InvalidInput
from daemon.api.auth import principal_of
from daemon.api.body import (
    cursor_instant,
    cursor_text,
    decode_cursor,
    encode_cursor,
    json_response,
    query_int,
)
from daemon.api.registry import CURSOR, LIMIT, Param, Reply, Route
from daemon.appkeys import CLOCK, DATABASE
from handlers.channel_health import VIEW_STATES, HealthPolicy, view_state
from store.channel_report import ChannelRow, list_channels, view_condition

PATH: Final = "/v1/channels"
PROVIDERS: Final = ("google", "microsoft")
HEALTH = web.AppKey("channel_health_policy", HealthPolicy)


class ChannelOut(BaseModel):
    id: str
    provider: str
    organization_id: str
    profile_id: str
    profile_name: str
    calendar_id: str
    calendar_name: str
    state: Literal["active", "renewing", "expiring_soon", "error", "stopped"]
    expires_at: str
    expires_in_seconds: int
    last_renewed_at: str | None
    last_notification_at: str | None
    last_synced_at: str | None
    consecutive_failures: int
    last_error: str | None


class ChannelPage(BaseModel):
    items: list[ChannelOut]
    next_cursor: str | None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def channel_json(row: ChannelRow, now: datetime, policy: HealthPolicy) -> dict[str, Any]:
    """The one JSON shape of a channel: the API, ``calsync channels --json`` and the status page."""
    return {
        "id": row.id,
        "provider": row.provider,
        "organization_id": row.organization_id,
        "profile_id": row.profile_id,
        "profile_name": row.profile_name,
        "calendar_id": row.calendar_id,
        "calendar_name": row.calendar_name,
        "state": view_state(row.state, row.expires_at, now, policy),
        "expires_at": row.expires_at.isoformat(),
        "expires_in_seconds": int((row.expires_at - now).total_seconds()),
        "last_renewed_at": _iso(row.last_renewed_at),
        "last_notification_at": _iso(row.last_notification_at),
        "last_synced_at": _iso(row.last_synced_at),
        "consecutive_failures": row.consecutive_failures,
        "last_error": row.last_error,
    }


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name) or None
    if value is not None and value not in allowed:
        raise InvalidInput(name, f"must be one of {', '.join(allowed)}")
    return value


async def get_channels(request: web.Request) -> web.Response:
    principal = principal_of(request)
    organization = request.query.get("organization") or None
    if principal.scope is not None:
        if organization not in (None, principal.scope):
            return json_response({"items": [], "next_cursor": None})
        organization = principal.scope
    provider = _choice(request, "provider", PROVIDERS)
    state = _choice(request, "state", VIEW_STATES)
    limit = query_int(request, "limit", 50, 1, 200)
    position = decode_cursor(request)
    after = (cursor_instant(position, "at"), cursor_text(position, "id")) if position else None
    now = request.app[CLOCK].now()
    policy = request.app.get(HEALTH) or HealthPolicy()
    condition = view_condition(state, now, policy.margin, policy.warn_before) if state else None
    async with request.app[DATABASE].session() as session:
        rows = await list_channels(
            session, organization_id=organization, provider=provider, condition=condition,
            after=after, limit=limit + 1,
        )  # fmt: skip
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = None
    if more:
        next_cursor = encode_cursor({"at": rows[-1].expires_at.isoformat(), "id": rows[-1].id})
    items = [channel_json(row, now, policy) for row in rows]
    return json_response({"items": items, "next_cursor": next_cursor})


def _enum(name: str, values: tuple[str, ...], what: str) -> Param:
    return Param(name, "query", {"type": "string", "enum": list(values)}, description=what)


ROUTES: Final = (
    Route(
        "GET",
        PATH,
        get_channels,
        "listChannels",
        "List push channels and their health",
        "channels",
        description="Google watch channels and Graph subscriptions, soonest expiry first. `state` is "
        "derived: `renewing` = due for renewal or handing over to its successor; `expiring_soon` = "
        "live with under 6 h left (every renewal so far failed); `error` = the last attempt failed "
        "or the channel lapsed. An organization-scoped key sees its own organization only.",
        params=(
            Param("organization", "query", {"type": "string"}, description="Only this organization."),
            _enum("provider", PROVIDERS, "Only this provider."),
            _enum("state", VIEW_STATES, "Only channels in this view state."),
            LIMIT,
            CURSOR,
        ),
        replies={200: Reply("A page of channels.", ChannelPage)},
        problems=(422,),
    ),
)
