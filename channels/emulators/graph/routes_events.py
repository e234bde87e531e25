"""Routes for calendars and events: CRUD, instances and (non-delta) calendarView.

Semantics follow api/user-post-events, event-get/update/delete, event-list-instances and
user-list-calendarview. ``singleValueExtendedProperties`` come back only when asked for with
``$expand=singleValueExtendedProperties($filter=id eq '…')``; list ``$filter`` supports the two
forms clients use to find their own items (extended property match and ``iCalUId eq``).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .render import instances, render_event, render_instance, select, view
from .state import Calendar, Mailbox, StoredEvent
from .web_common import OWNER, collection, emulator_of, graph_json, json_body, mailbox_for, out_zone, query
from .wire import GraphError, parse_query_instant

XP_ID = re.compile(r"id\s+eq\s+'([^']*)'", re.IGNORECASE)
XP_FILTER = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'([^']*)'\s+and\s+\1/value\s+eq\s+'([^']*)'\s*\)$",
    re.IGNORECASE,
)
ICAL_FILTER = re.compile(r"^iCalUId\s+eq\s+'([^']*)'$", re.IGNORECASE)


def _calendar_json(request: web.Request, box: Mailbox, cal: Calendar) -> dict[str, Any]:
    return {
        "@odata.etag": f'W/"{cal.change_key}"',
        "id": cal.id,
        "name": cal.name,
        "color": cal.color,
        "hexColor": "",
        "isDefaultCalendar": cal.is_default,
        "changeKey": cal.change_key,
        "canShare": True,
        "canViewPrivateItems": True,
        "canEdit": True,
        "isRemovable": not cal.is_default,
        "isTallyingResponses": True,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "owner": {"name": box.user.display_name, "address": box.user.email},
    }


def _expanded_ids(request: web.Request) -> list[str] | None:
    expand = query(request, "$expand")
    if not expand:
        return None
    if not expand.lower().startswith("singlevalueextendedproperties"):
        raise GraphError(400, "BadRequest", f"Unsupported $expand '{expand}'.")
    return XP_ID.findall(expand)


def _select(request: web.Request) -> list[str] | None:
    raw = query(request, "$select")
    return raw.split(",") if raw else None


def _filter(events: list[StoredEvent], raw: str | None) -> list[StoredEvent]:
    if not raw:
        return events
    xp = XP_FILTER.match(raw.strip())
    if xp:
        pid, value = xp.group(2).lower(), xp.group(3)
        return [e for e in events if pid in e.extended and e.extended[pid][1] == value]
    ical = ICAL_FILTER.match(raw.strip())
    if ical:
        return [e for e in events if e.ical_uid == ical.group(1)]
    raise GraphError(400, "ErrorInvalidUrlQueryFilter", f"The emulator does not support the $filter '{raw}'.")


async def list_calendars(request: web.Request) -> web.Response:
    box = mailbox_for(request)
    return collection(
        request, [_calendar_json(request, box, c) for c in box.calendars.values()], "users('me')/calendars"
    )


async def create_calendar(request: web.Request) -> web.Response:
    box = mailbox_for(request)
    cal = emulator_of(request).store.create_calendar(box, await json_body(request))
    return graph_json(_calendar_json(request, box, cal), status=201)


async def get_calendar(request: web.Request) -> web.Response:
    box = mailbox_for(request)
    cal_id = request.match_info.get("cal")
    cal = emulator_of(request).store.calendar(box, cal_id) if cal_id else box.default_calendar
    return graph_json(_calendar_json(request, box, cal))


def _cal_id(request: web.Request, box: Mailbox) -> str | None:
    cal_id = request.match_info.get("cal")
    if cal_id is not None:
        emulator_of(request).store.calendar(box, cal_id)
        return cal_id
    resource = request.match_info.route.resource
    # ``/me/calendar/...`` names the default calendar; ``/me/events`` spans every calendar.
    if resource is not None and "/calendar/" in resource.canonical:
        return box.default_calendar.id
    return None


async def list_events(request: web.Request) -> web.Response:
    """Single events and series masters (never occurrences), like GET /me/events."""
    box = mailbox_for(request)
    cal_id = _cal_id(request, box)
    events = sorted(
        (e for e in box.events.values() if cal_id is None or e.calendar_id == cal_id), key=lambda e: e.created
    )
    zone, fields, xp = out_zone(request), _select(request), _expanded_ids(request)
    docs = [
        select(render_event(box, e, None, zone=zone, expand_extended=xp), fields)
        for e in _filter(events, query(request, "$filter"))
    ]
    return collection(request, docs, "users('me')/events")


async def create_event(request: web.Request) -> web.Response:
    box = mailbox_for(request)
    cal_id = request.match_info.get("cal")
    emu = emulator_of(request)
    event_id = emu.create_event(box.user.id, cal_id, await json_body(request))
    return graph_json(render_event(box, box.events[event_id], None, zone=out_zone(request)), status=201)


async def get_event(request: web.Request) -> web.Response:
    box = mailbox_for(request)
    event, original = emulator_of(request).store.find(box, request.match_info["eid"], _cal_id(request, box))
    doc = render_event(box, event, original, zone=out_zone(request), expand_extended=_expanded_ids(request))
    return graph_json(select(doc, _select(request)))


async def patch_event(request: web.Request) -> web.Response:
    box = mailbox_for(request)
    emu = emulator_of(request)
    cal_id = _cal_id(request, box)
    emu.patch_event(box.user.id, request.match_info["eid"], await json_body(request), calendar_id=cal_id)
    event, original = emu.store.find(box, request.match_info["eid"], cal_id)
    return graph_json(render_event(box, event, original, zone=out_zone(request)))


async def delete_event(request: web.Request) -> web.Response:
    box = mailbox_for(request)
    emulator_of(request).delete_event(
        box.user.id, request.match_info["eid"], calendar_id=_cal_id(request, box)
    )
    return web.Response(status=204)


async def list_instances(request: web.Request) -> web.Response:
    box = mailbox_for(request)
    event, original = emulator_of(request).store.find(box, request.match_info["eid"])
    start = parse_query_instant(query(request, "startDateTime"), "startDateTime")
    end = parse_query_instant(query(request, "endDateTime"), "endDateTime")
    found = instances(event, start, end) if original is None and event.is_series else []
    zone = out_zone(request)
    return collection(request, [render_instance(box, i, zone) for i in found], "users('me')/events")


async def calendar_view(request: web.Request) -> web.Response:
    box = mailbox_for(request)
    start = parse_query_instant(query(request, "startDateTime"), "startDateTime")
    end = parse_query_instant(query(request, "endDateTime"), "endDateTime")
    zone = out_zone(request)
    docs = [render_instance(box, i, zone) for i in view(box, _cal_id(request, box), start, end)]
    return collection(request, [select(d, _select(request)) for d in docs], "users('me')/calendarView")


def add_routes(app: web.Application) -> None:
    base = f"/v1.0/{OWNER}"
    for cal in ("/calendar", "/calendars/{cal}"):
        app.router.add_get(f"{base}{cal}", get_calendar)
        app.router.add_get(f"{base}{cal}/events", list_events)
        app.router.add_post(f"{base}{cal}/events", create_event)
        app.router.add_get(f"{base}{cal}/calendarView", calendar_view)
    app.router.add_get(f"{base}/calendars", list_calendars)
    app.router.add_post(f"{base}/calendars", create_calendar)
    app.router.add_get(f"{base}/events", list_events)
    app.router.add_post(f"{base}/events", create_event)
    app.router.add_get(f"{base}/calendarView", calendar_view)
    for prefix in ("", "/calendars/{cal}"):
        app.router.add_get(f"{base}{prefix}/events/{{eid}}", get_event)
        app.router.add_patch(f"{base}{prefix}/events/{{eid}}", patch_event)
        app.router.add_delete(f"{base}{prefix}/events/{{eid}}", delete_event)
    app.router.add_get(f"{base}/events/{{eid}}/instances", list_instances)
