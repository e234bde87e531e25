"""freebusy.query: busy intervals of the requested calendars inside [timeMin, timeMax).

Busy = opaque, not cancelled, not declined by the calendar's owner; recurring series count
through their instances. Intervals are clipped to the window, merged, and rendered in the
request's ``timeZone`` (UTC by default). Calendars the caller cannot see, or beyond
``calendarExpansionMax`` (at most 50), carry an ``errors`` entry instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from channels.emulators.google.errors import Json, invalid, required, time_range_empty
from channels.emulators.google.listing import Lister, span
from channels.emulators.google.query import ListQuery
from channels.emulators.google.store import Calendar
from channels.emulators.google.timeutil import format_in_zone, format_millis, parse_query_time, zone

MAX_CALENDARS = 50
MAX_GROUP = 100


def _busy(res: Json) -> bool:
    if res.get("status") == "cancelled" or res.get("transparency") == "transparent":
        return False
    return not any(
        a.get("self") and a.get("responseStatus") == "declined" for a in res.get("attendees") or []
    )


def merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def query_freebusy(body: Json, resolve: Callable[[str], Calendar | None], lister: Lister) -> Json:
    if not isinstance(body, dict):
        raise invalid("Parse Error")
    if not body.get("timeMin") or not body.get("timeMax"):
        raise required("Required", location="timeMin" if not body.get("timeMin") else "timeMax")
    time_min = parse_query_time(str(body["timeMin"]), "timeMin")
    time_max = parse_query_time(str(body["timeMax"]), "timeMax")
    if time_min >= time_max:
        raise time_range_empty("timeMax")
    zone_name = str(body.get("timeZone") or "UTC")
    try:
        zone(zone_name)
    except ValueError as err:
        raise invalid("Invalid time zone.", location="timeZone") from err
    limit = int(body.get("calendarExpansionMax") or MAX_CALENDARS)
    if limit > MAX_CALENDARS or int(body.get("groupExpansionMax") or MAX_GROUP) > MAX_GROUP:
        raise invalid("Invalid expansion maximum.")
    window = ListQuery(single_events=True, time_min=time_min, time_max=time_max)
    calendars: Json = {}
    for index, item in enumerate(body.get("items") or []):
        calendar_id = str(item.get("id", "")) if isinstance(item, dict) else ""
        if index >= limit:
            calendars[calendar_id] = _error("calendar", "tooManyCalendarsRequested")
            continue
        calendar = resolve(calendar_id)
        if calendar is None:
            calendars[calendar_id] = _error("global", "notFound")
            continue
        intervals = [
            (max(start, time_min), min(end, time_max))
            for res in lister.full_items(calendar, window)
            if _busy(res)
            for start, end in [span(res, calendar)]
            if end > start
        ]
        calendars[calendar_id] = {
            "busy": [
                {"start": format_in_zone(start, zone_name), "end": format_in_zone(end, zone_name)}
                for start, end in merge(intervals)
            ]
        }
    return {
        "kind": "calendar#freeBusy",
        "timeMin": format_millis(time_min),
        "timeMax": format_millis(time_max),
        "calendars": calendars,
    }


def _error(domain: str, reason: str) -> Json:
    return {"busy": [], "errors": [{"domain": domain, "reason": reason}]}
