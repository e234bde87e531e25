"""The JSON control API under ``/_emulator/…``: the GraphEmulator test/fault operations over HTTP.

For out-of-process use (``calsync sandbox``, other languages). Unauthenticated by design: the
emulator binds to loopback and is never a production service.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from aiohttp import web

from .config import DeltaResetMode
from .web_common import emulator_of, graph_json, json_body


async def add_user(request: web.Request) -> web.Response:
    body = await json_body(request)
    emu = emulator_of(request)
    seeded = emu.add_user(str(body["email"]), body.get("display_name"), user_id=body.get("id"))
    return graph_json(
        {
            "id": seeded.id,
            "email": seeded.email,
            "refresh_token": seeded.refresh_token,
            "tenant_id": seeded.tenant_id,
            "client_id": seeded.client_id,
            "access_token": emu.issue_access_token(seeded.id),
        },
        status=201,
    )


async def revoke(request: web.Request) -> web.Response:
    body = await json_body(request)
    emulator_of(request).revoke(request.match_info["uid"], access_tokens=bool(body.get("access_tokens")))
    return web.Response(status=204)


async def seed_calendar(request: web.Request) -> web.Response:
    body = await json_body(request)
    return graph_json(
        {"id": emulator_of(request).seed_calendar(request.match_info["uid"], str(body["name"]))}, status=201
    )


async def seed_event(request: web.Request) -> web.Response:
    body = await json_body(request)
    event_id = emulator_of(request).seed_event(
        request.match_info["uid"], body["event"], body.get("calendar_id")
    )
    return graph_json({"id": event_id}, status=201)


async def change_event(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    uid, eid = request.match_info["uid"], request.match_info["eid"]
    if request.method == "DELETE":
        emu.delete_event(uid, eid)
    else:
        emu.patch_event(uid, eid, await json_body(request), trusted=True)
    return web.Response(status=204)


async def throttle(request: web.Request) -> web.Response:
    body = await json_body(request)
    emulator_of(request).inject_429(
        request.match_info["uid"], int(body.get("count", 1)), int(body.get("retry_after", 2))
    )
    return web.Response(status=204)


async def notification_faults(request: web.Request) -> web.Response:
    body = await json_body(request)
    emu = emulator_of(request)
    emu.drop_notifications(int(body.get("drop", 0)))
    emu.duplicate_notifications(int(body.get("duplicate", 0)))
    if "delay_seconds" in body:
        emu.delay_notifications(timedelta(seconds=float(body["delay_seconds"])))
    return web.Response(status=204)


async def invalidate_delta(request: web.Request) -> web.Response:
    body = await json_body(request)
    mode = cast(DeltaResetMode | None, body.get("mode"))
    count = emulator_of(request).invalidate_delta_tokens(body.get("user_id"), mode)
    return graph_json({"invalidated": count})


async def replay_delta(request: web.Request) -> web.Response:
    body = await json_body(request)
    emulator_of(request).replay_delta_changes(int(body.get("count", 1)))
    return web.Response(status=204)


async def lifecycle(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        emulator_of(request).fire_lifecycle(request.match_info["sid"], str(body["event"]))
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    return web.Response(status=202)


async def advance(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        emulator_of(request).advance(timedelta(seconds=float(body["seconds"])))
    except TypeError as err:
        raise web.HTTPConflict(text=str(err)) from err
    return graph_json({"now": emulator_of(request).now().isoformat()})


async def counters(request: web.Request) -> web.Response:
    return graph_json(emulator_of(request).counters_snapshot())


async def idle(request: web.Request) -> web.Response:
    body: dict[str, Any] = await json_body(request)
    await emulator_of(request).wait_idle(float(body.get("timeout", 10.0)))
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/_emulator/users", add_user)
    r.add_post("/_emulator/users/{uid}/revoke", revoke)
    r.add_post("/_emulator/users/{uid}/calendars", seed_calendar)
    r.add_post("/_emulator/users/{uid}/events", seed_event)
    r.add_patch("/_emulator/users/{uid}/events/{eid}", change_event)
    r.add_delete("/_emulator/users/{uid}/events/{eid}", change_event)
    r.add_post("/_emulator/users/{uid}/throttle", throttle)
    r.add_post("/_emulator/notifications/faults", notification_faults)
    r.add_post("/_emulator/delta/invalidate", invalidate_delta)
    r.add_post("/_emulator/delta/replay", replay_delta)
    r.add_post("/_emulator/subscriptions/{sid}/lifecycle", lifecycle)
    r.add_post("/_emulator/clock/advance", advance)
    r.add_get("/_emulator/counters", counters)
    r.add_post("/_emulator/idle", idle)
