"""Building and validating event resources: what a client may write and what the server adds.

``build_event`` turns a request body into the stored resource (server fields included);
``public_view`` is what the API returns — for a cancelled event only the guaranteed fields.
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from channels.emulators.google.errors import ApiError, Json, invalid, time_range_empty
from channels.emulators.google.recurrence import RecurrenceError, occurrences
from channels.emulators.google.store import Calendar
from channels.emulators.google.timeutil import EventTime, format_millis, parse_event_time, parse_rfc3339

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
STATUSES = ("confirmed", "tentative", "cancelled")
RESPONSE_STATUSES = ("needsAction", "declined", "tentative", "accepted")
# Server-owned fields: whatever a client sends for these is ignored.
READ_ONLY = frozenset(
    {
        "kind",
        "etag",
        "id",
        "htmlLink",
        "created",
        "updated",
        "creator",
        "organizer",
        "recurringEventId",
        "originalStartTime",
        "iCalUID",
        "eventType",
    }
)
# Fields whose change does not move ``updated`` ("Updating event reminders will not cause this
# to change"), plus the server's own bookkeeping.
_NOT_CONTENT = frozenset({"etag", "updated", "reminders", "sequence"})


@dataclass(frozen=True, slots=True)
class InstanceOf:
    """Marks a resource as an exception of a series: both fields are immutable."""

    series_id: str
    original_start: Json
    ical_uid: str


def validate_client_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        raise invalid("Invalid resource id value.")
    return event_id


def public_view(resource: Json) -> Json:
    """What the API returns. Cancelled events carry only the fields Google guarantees."""
    if resource.get("status") != "cancelled":
        return copy.deepcopy(resource)
    out: Json = {
        "kind": "calendar#event",
        "etag": resource["etag"],
        "id": resource["id"],
        "status": "cancelled",
    }
    if resource.get("recurringEventId"):
        out["recurringEventId"] = resource["recurringEventId"]
        out["originalStartTime"] = copy.deepcopy(resource["originalStartTime"])
    return out


def _check_times(res: Json, calendar: Calendar) -> tuple[EventTime, EventTime]:
    start = parse_event_time(res.get("start"), "start")
    end = parse_event_time(res.get("end"), "end")
    if start.all_day != end.all_day:
        raise ApiError(400, "invalid", "Invalid start time.")
    tz = calendar.time_zone
    if end.as_instant(tz) < start.as_instant(tz) or (start.all_day and end.day == start.day):
        raise time_range_empty("end")
    res["start"] = start.to_json(tz)
    res["end"] = end.to_json(tz)
    return start, end


def _check_recurrence(res: Json, start: EventTime, end: EventTime, instance: InstanceOf | None) -> None:
    lines = res.get("recurrence")
    if not lines:
        res.pop("recurrence", None)
        return
    if instance is not None or not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise invalid("Invalid recurrence rule.")
    # "For recurring events this field [timeZone] is required."
    for which, moment in (("start", start), ("end", end)):
        if not moment.all_day and moment.zone_name is None:
            raise ApiError(400, "required", f"Missing time zone definition for {which} time.")
    first = start.day if start.day is not None else start.instant
    assert first is not None
    # Expanding the first couple of instances is enough to reject rules dateutil cannot parse.
    horizon = start.as_instant("UTC").astimezone(UTC) + timedelta(days=3660)
    try:
        occurrences(lines, first, start.zone_name, horizon, 2)
    except RecurrenceError as err:
        raise invalid("Invalid recurrence rule.") from err


def _check_attendees(res: Json, calendar: Calendar) -> None:
    attendees = res.get("attendees")
    if attendees is None:
        return
    if not isinstance(attendees, list):
        raise invalid("Invalid attendees.")
    owner = calendar.owner.lower()
    for attendee in attendees:
        if not isinstance(attendee, dict) or not attendee.get("email"):
            raise ApiError(400, "required", "Missing attendee email.")
        status = attendee.setdefault("responseStatus", "needsAction")
        if status not in RESPONSE_STATUSES:
            raise invalid("Invalid attendee response status.")
        if str(attendee["email"]).lower() == owner:
            attendee["self"] = True
            attendee["organizer"] = True
        else:
            attendee.pop("self", None)
            attendee.pop("organizer", None)
    if not attendees:
        res.pop("attendees")


def _check_extended(res: Json) -> None:
    props = res.get("extendedProperties")
    if props is None:
        return
    if not isinstance(props, dict) or set(props) - {"private", "shared"}:
        raise invalid("Invalid extended properties.")
    for scope in ("private", "shared"):
        values = props.get(scope)
        if values is None:
            props.pop(scope, None)
            continue
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise invalid("Invalid extended properties.")


def build_event(
    body: Json,
    calendar: Calendar,
    *,
    event_id: str,
    etag: str,
    now: datetime,
    previous: Json | None = None,
    instance: InstanceOf | None = None,
) -> Json:
    """The stored resource for a write of ``body`` (insert, full update, or merged patch)."""
    if not isinstance(body, dict):
        raise ApiError(400, "parseError", "Parse Error")
    res: Json = {k: copy.deepcopy(v) for k, v in body.items() if k not in READ_ONLY and v is not None}
    res["status"] = res.get("status", "confirmed")
    if res["status"] not in STATUSES:
        raise invalid("Invalid value for: status")
    transparency = res.pop("transparency", "opaque")
    if transparency not in ("opaque", "transparent"):
        raise invalid("Invalid value for: transparency")
    if transparency == "transparent":  # the default (opaque) is omitted, as Google does
        res["transparency"] = "transparent"
    start, end = _check_times(res, calendar)
    _check_recurrence(res, start, end, instance)
    _check_attendees(res, calendar)
    _check_extended(res)
    res.setdefault("reminders", {"useDefault": True})

    owner_is_calendar = calendar.primary
    organizer: Json = {"email": calendar.id, "self": True}
    if not owner_is_calendar:
        organizer["displayName"] = calendar.summary
    eid = base64.urlsafe_b64encode(f"{event_id} {calendar.id}".encode()).decode().rstrip("=")
    res.update(
        kind="calendar#event",
        etag=etag,
        id=event_id,
        htmlLink=f"https://www.google.com/calendar/event?eid={eid}",
        created=previous["created"] if previous else format_millis(now),
        updated=format_millis(now),
        creator={"email": calendar.owner, "self": True},
        organizer=organizer,
        eventType="default",
    )
    if instance is not None:
        res["recurringEventId"] = instance.series_id
        res["originalStartTime"] = copy.deepcopy(instance.original_start)
        res["iCalUID"] = instance.ical_uid
    elif previous is not None:
        res["iCalUID"] = previous["iCalUID"]
    else:
        res["iCalUID"] = str(body.get("iCalUID") or f"{event_id}@google.com")
    res["sequence"] = _next_sequence(res, previous)
    if previous is not None and _only_reminders_changed(previous, res):
        res["updated"] = previous["updated"]
    return res


def _next_sequence(res: Json, previous: Json | None) -> int:
    if previous is None:
        return int(res.get("sequence", 0) or 0)
    moved = any(previous.get(k) != res.get(k) for k in ("start", "end", "recurrence"))
    return int(previous.get("sequence", 0)) + (1 if moved else 0)


def _only_reminders_changed(previous: Json, current: Json) -> bool:
    def content(r: Json) -> Json:
        return {k: v for k, v in r.items() if k not in _NOT_CONTENT}

    return content(previous) == content(current) and previous.get("reminders") != current.get("reminders")


def merge_patch(base: Json, patch: Json) -> Json:
    """Patch semantics: objects merge key by key, arrays and scalars replace, null removes."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def updated_of(resource: Json) -> datetime:
    return parse_rfc3339(str(resource["updated"]))
