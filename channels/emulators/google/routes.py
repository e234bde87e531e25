"""HTTP handlers of Calendar API v3 under ``/calendar/v3`` (paths as in the discovery document).

The middleware in ``app.py`` has authenticated the caller (``request[PRINCIPAL]``) before any
handler runs; handlers translate HTTP to ``GoogleEmulator`` calls and back.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from channels.emulators.google.auth import Principal
from channels.emulators.google.emulator import GoogleEmulator
from channels.emulators.google.errors import ApiError, Json, forbidden, not_found, required
from channels.emulators.google.freebusy import query_freebusy
from channels.emulators.google.query import parse_instances_query, parse_list_query
from channels.emulators.google.store import Calendar
from channels.emulators.google.watch import channel_json

PREFIX = "/calendar/v3"
EMULATOR = web.AppKey("google_emulator", GoogleEmulator)
PRINCIPAL = web.RequestKey("google_principal", Principal)


def _emulator(request: web.Request) -> GoogleEmulator:
    return request.app[EMULATOR]


def _principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def _calendar(request: web.Request) -> Calendar:
    calendar = _emulator(request).store.resolve(_principal(request).email, request.match_info["calendarId"])
    if calendar is None:
        raise not_found()
    return calendar


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.text() or "{}")
    except ValueError as err:
        raise ApiError(400, "parseError", "Parse Error") from err


def ok(body: Json) -> web.Response:
    return web.json_response(body)


# -- calendarList / calendars ------------------------------------------------------------------
def _list_entry(calendar: Calendar) -> Json:
    out: Json = {
        "kind": "calendar#calendarListEntry",
        "etag": calendar.etag,
        "id": calendar.id,
        "summary": calendar.summary,
        "timeZone": calendar.time_zone,
        "colorId": "14",
        "backgroundColor": "#9fe1e7",
        "foregroundColor": "#000000",
        "selected": True,
        "accessRole": "owner",
        "defaultReminders": [],
    }
    if calendar.description:
        out["description"] = calendar.description
    if calendar.primary:
        out["primary"] = True
    return out


def _calendar_json(calendar: Calendar) -> Json:
    out: Json = {
        "kind": "calendar#calendar",
        "etag": calendar.etag,
        "id": calendar.id,
        "summary": calendar.summary,
        "timeZone": calendar.time_zone,
    }
    if calendar.description:
        out["description"] = calendar.description
    return out


async def calendar_list(request: web.Request) -> web.Response:
    store = _emulator(request).store
    user = _principal(request).email
    items = [_list_entry(store.calendars[cid]) for cid in store.calendar_lists.get(user, [])]
    return ok({"kind": "calendar#calendarList", "etag": f'"l{len(items)}"', "items": items})


async def calendar_list_get(request: web.Request) -> web.Response:
    return ok(_list_entry(_calendar(request)))


async def calendars_get(request: web.Request) -> web.Response:
    return ok(_calendar_json(_calendar(request)))


async def calendars_insert(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict) or not body.get("summary"):
        raise required("Missing summary.", location="summary")
    emulator = _emulator(request)
    calendar_id = emulator.create_calendar(
        _principal(request).email, str(body["summary"]), time_zone=body.get("timeZone")
    )
    calendar = emulator.store.calendars[calendar_id]
    calendar.description = body.get("description")
    return ok(_calendar_json(calendar))


async def calendars_delete(request: web.Request) -> web.Response:
    calendar = _calendar(request)
    if calendar.primary:
        raise forbidden("cannotDeletePrimaryCalendar", "Cannot delete primary calendar.")
    _emulator(request).delete_calendar(calendar.id)
    return web.Response(status=204)


# -- events ------------------------------------------------------------------------------------
async def events_list(request: web.Request) -> web.Response:
    query = parse_list_query(request.query)
    return ok(_emulator(request).lister.list_events(_calendar(request), query))


async def events_insert(request: web.Request) -> web.Response:
    body = await _body(request)
    return ok(_emulator(request).events.insert(_calendar(request), body))


async def events_get(request: web.Request) -> web.Response:
    return ok(_emulator(request).events.get(_calendar(request), request.match_info["eventId"]))


async def _modify(request: web.Request, *, patch: bool) -> web.Response:
    body = await _body(request)
    result = _emulator(request).events.modify(
        _calendar(request),
        request.match_info["eventId"],
        body,
        patch=patch,
        if_match=request.headers.get("If-Match"),
    )
    return ok(result)


async def events_patch(request: web.Request) -> web.Response:
    return await _modify(request, patch=True)


async def events_update(request: web.Request) -> web.Response:
    return await _modify(request, patch=False)


async def events_delete(request: web.Request) -> web.Response:
    calendar = _calendar(request)
    _emulator(request).events.delete(calendar, request.match_info["eventId"], request.headers.get("If-Match"))
    return web.Response(status=204)


async def events_move(request: web.Request) -> web.Response:
    target = request.query.get("destination")
    if not target:
        raise required("Required parameter: destination", location="destination")
    emulator = _emulator(request)
    destination = emulator.store.resolve(_principal(request).email, target)
    if destination is None:
        raise not_found()
    return ok(emulator.events.move(_calendar(request), request.match_info["eventId"], destination))


async def events_instances(request: web.Request) -> web.Response:
    query = parse_instances_query(request.query)
    emulator = _emulator(request)
    return ok(emulator.lister.list_instances(_calendar(request), request.match_info["eventId"], query))


# -- push --------------------------------------------------------------------------------------
async def events_watch(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    channel = emulator.channels.create(_calendar(request), _principal(request), await _body(request))
    task = emulator.announce_sync(channel)
    if task is not None and emulator.config.sync_before_watch_response:
        await task
    return ok(channel_json(channel))


async def channels_stop(request: web.Request) -> web.Response:
    _emulator(request).channels.stop(_principal(request), await _body(request))
    return web.Response(status=204)


async def freebusy(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    user = _principal(request).email
    body = await _body(request)
    return ok(query_freebusy(body, lambda cid: emulator.store.resolve(user, cid), emulator.lister))


def add_api_routes(app: web.Application) -> None:
    cal = f"{PREFIX}/calendars/{{calendarId}}"
    app.router.add_get(f"{PREFIX}/users/me/calendarList", calendar_list)
    app.router.add_get(f"{PREFIX}/users/me/calendarList/{{calendarId}}", calendar_list_get)
    app.router.add_post(f"{PREFIX}/calendars", calendars_insert)
    app.router.add_get(cal, calendars_get)
    app.router.add_delete(cal, calendars_delete)
    app.router.add_get(f"{cal}/events", events_list)
    app.router.add_post(f"{cal}/events", events_insert)
    app.router.add_post(f"{cal}/events/watch", events_watch)
    app.router.add_get(f"{cal}/events/{{eventId}}", events_get)
    app.router.add_patch(f"{cal}/events/{{eventId}}", events_patch)
    app.router.add_put(f"{cal}/events/{{eventId}}", events_update)
    app.router.add_delete(f"{cal}/events/{{eventId}}", events_delete)
    app.router.add_get(f"{cal}/events/{{eventId}}/instances", events_instances)
    app.router.add_post(f"{cal}/events/{{eventId}}/move", events_move)
    app.router.add_post(f"{PREFIX}/channels/stop", channels_stop)
    app.router.add_post(f"{PREFIX}/freeBusy", freebusy)
