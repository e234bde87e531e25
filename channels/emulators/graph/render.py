"""Read views of the store: calendarView expansion into instances and the event JSON Graph returns.

calendarView semantics (api/user-list-calendarview): single events and the occurrences/exceptions of
series that overlap the window; series masters themselves never appear. Times are rendered in UTC
unless the caller sent ``Prefer: outlook.timezone``; all-day events stay floating midnights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from .state import Mailbox, StoredEvent, bounds, occurrence_id, original_starts
from .wire import format_floating, format_local, iso_utc, parse_dttz, resolve_zone

InstanceType = Literal["singleInstance", "occurrence", "exception"]
NO_TIME = "0001-01-01T00:00:00Z"
DEFAULTS: dict[str, Any] = {
    "subject": "",
    "body": {"contentType": "html", "content": ""},
    "importance": "normal",
    "sensitivity": "normal",
    "isAllDay": False,
    "isCancelled": False,
    "isDraft": False,
    "isOrganizer": True,
    "isReminderOn": True,
    "reminderMinutesBeforeStart": 15,
    "responseRequested": True,
    "showAs": "busy",
    "hideAttendees": False,
    "allowNewTimeProposals": True,
    "isOnlineMeeting": False,
    "onlineMeetingProvider": "unknown",
    "onlineMeeting": None,
    "onlineMeetingUrl": None,
    "hasAttachments": False,
    "categories": [],
    "attendees": [],
    "locations": [],
    "location": {
        "displayName": "",
        "locationType": "default",
        "uniqueIdType": "unknown",
        "address": {},
        "coordinates": {},
    },
    "recurrence": None,
}


@dataclass(frozen=True, slots=True)
class Instance:
    """One entry of a calendar view: a single event, or one occurrence/exception of a series."""

    id: str
    kind: InstanceType
    event: StoredEvent
    original: datetime | None
    start: datetime
    end: datetime
    change_key: str


def _occurrence(event: StoredEvent, original: datetime) -> Instance | None:
    ov = event.overrides.get(original)
    if ov is not None and ov.deleted:
        return None
    start, end = bounds(event.fields)
    o_start, o_end = original, original + (end - start)
    if ov is not None and "start" in ov.fields:
        o_start = parse_dttz(ov.fields["start"], "start")[0]
    if ov is not None and "end" in ov.fields:
        o_end = parse_dttz(ov.fields["end"], "end")[0]
    kind: InstanceType = "exception" if ov is not None else "occurrence"
    ck = ov.change_key if ov is not None else event.change_key
    return Instance(occurrence_id(event.id, original), kind, event, original, o_start, o_end, ck)


def _overlaps(inst: Instance, start: datetime, end: datetime) -> bool:
    if inst.start == inst.end:
        return start <= inst.start < end
    return inst.start < end and inst.end > start


def instances(event: StoredEvent, start: datetime, end: datetime) -> list[Instance]:
    """The event's entries overlapping [start, end), in start order."""
    if not event.is_series:
        s, e = bounds(event.fields)
        single = Instance(event.id, "singleInstance", event, None, s, e, event.change_key)
        return [single] if _overlaps(single, start, end) else []
    found: dict[datetime, Instance] = {}
    for original in original_starts(event, end):
        inst = _occurrence(event, original)
        if inst is not None and _overlaps(inst, start, end):
            found[original] = inst
    # An exception moved into the window from an original start after it.
    for original, ov in event.overrides.items():
        if original >= end and not ov.deleted:
            inst = _occurrence(event, original)
            if inst is not None and _overlaps(inst, start, end):
                found[original] = inst
    return sorted(found.values(), key=lambda i: (i.start, i.id))


def view(box: Mailbox, calendar_id: str | None, start: datetime, end: datetime) -> list[Instance]:
    out = [
        inst
        for event in box.events.values()
        if calendar_id is None or event.calendar_id == calendar_id
        for inst in instances(event, start, end)
    ]
    return sorted(out, key=lambda i: (i.start, i.id))


def _preview(body: Any) -> str:
    text = str((body or {}).get("content") or "")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()[:255]


def _ical_uid(master_uid: str, original: datetime | None) -> str:
    if original is None:
        return master_uid
    # Outlook stores the occurrence date in bytes 16-19 of the global object id.
    return master_uid[:32] + f"{original.year:04X}{original.month:02X}{original.day:02X}" + master_uid[40:]


def _when(instant: datetime, all_day: bool, own_zone: str, out_zone: str) -> dict[str, str]:
    if all_day:
        return format_floating(instant.astimezone(resolve_zone(own_zone)).date(), out_zone)
    return format_local(instant, out_zone)


def render_event(
    box: Mailbox,
    event: StoredEvent,
    original: datetime | None,
    *,
    zone: str = "UTC",
    expand_extended: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON of a series master / single event (``original`` None) or of one occurrence."""
    ov = event.overrides.get(original) if original is not None else None
    fields = {**DEFAULTS, **event.fields, **(ov.fields if ov else {})}
    own_zone = event.fields["start"].get("timeZone") or "UTC"
    if original is None:
        start, end = bounds(event.fields)
        kind = "seriesMaster" if event.is_series else "singleInstance"
        ck, modified, inst_id = event.change_key, event.modified, event.id
    else:
        inst = _occurrence(event, original)
        assert inst is not None  # find() already rejected cancelled occurrences
        start, end, kind, ck, inst_id = inst.start, inst.end, inst.kind, inst.change_key, inst.id
        modified = ov.modified if ov else event.modified
        fields["recurrence"] = None
    organizer = fields.get("organizer") or {
        "emailAddress": {"name": box.user.display_name, "address": box.user.email}
    }
    response = fields.get("responseStatus") or {
        "response": "organizer" if fields["isOrganizer"] else "none",
        "time": NO_TIME,
    }
    attendees = [
        {**a, "status": a.get("status") or {"response": "none", "time": NO_TIME}} for a in fields["attendees"]
    ]
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{ck}"',
        "id": inst_id,
        "createdDateTime": iso_utc(event.created),
        "lastModifiedDateTime": iso_utc(modified),
        "changeKey": ck,
        "categories": fields["categories"],
        "originalStartTimeZone": own_zone,
        "originalEndTimeZone": event.fields["end"].get("timeZone") or own_zone,
        "iCalUId": _ical_uid(event.ical_uid, original),
        "uid": event.ical_uid,
        "bodyPreview": _preview(fields["body"]),
        "seriesMasterId": event.id if original is not None else None,
        "type": kind,
        "webLink": f"https://outlook.office365.com/owa/?itemid={inst_id}&exvsurl=1&path=/calendar/item",
        **{k: fields[k] for k in DEFAULTS if k not in ("attendees",)},
        "responseStatus": response,
        "organizer": organizer,
        "attendees": attendees,
        "start": _when(start, bool(fields["isAllDay"]), own_zone, zone),
        "end": _when(end, bool(fields["isAllDay"]), own_zone, zone),
    }
    if original is not None:
        out["originalStart"] = original.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if event.transaction_id and original is None:
        out["transactionId"] = event.transaction_id
    if expand_extended:
        wanted = {i.lower() for i in expand_extended}
        props = [{"id": pid, "value": value} for key, (pid, value) in event.extended.items() if key in wanted]
        if props:
            out["singleValueExtendedProperties"] = props
    return out


def render_instance(box: Mailbox, inst: Instance, zone: str = "UTC") -> dict[str, Any]:
    return render_event(box, inst.event, inst.original, zone=zone)


def select(doc: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """``$select``: keep the requested properties plus the etag and id Graph always returns."""
    if not fields:
        return doc
    keep = {f.strip().lower() for f in fields} | {"@odata.etag", "id"}
    return {k: v for k, v in doc.items() if k.lower() in keep}
