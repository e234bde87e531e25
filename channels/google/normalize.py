"""Google Calendar event JSON -> ExternalEvent. Pure; the adapter feeds it ``events.list`` items.

Cancelled entries may carry only ``id`` (deleted events) or ``id``,
``recurringEventId`` and ``originalStartTime`` (cancelled instances of a live
series): those become tombstones. All-day events keep their dates; their
instants are UTC midnights until a profile's time zone is applied downstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from calsync.errors import PermanentProviderError
from channels.google.marker import read_marker
from channels.model import EventStatus, ExternalEvent, Provider, Response

_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "tentative": Response.TENTATIVE,
    "declined": Response.DECLINED,
    "needsAction": Response.NEEDS_ACTION,
}


class MalformedEvent(PermanentProviderError):
    """The provider sent an event we cannot interpret (logged and skipped, never guessed at)."""


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise MalformedEvent(f"dateTime without offset: {value!r}")
    return parsed.astimezone(UTC)


def _when(obj: Mapping[str, Any] | None, field: str) -> tuple[datetime, date | None, str | None]:
    """(UTC instant, date if all-day, zone) of a Google EventDateTime."""
    if not obj:
        raise MalformedEvent(f"missing {field}")
    try:
        if obj.get("dateTime"):
            return _instant(obj["dateTime"]), None, obj.get("timeZone")
        if obj.get("date"):
            day = date.fromisoformat(obj["date"])
            return datetime.combine(day, time(), UTC), day, obj.get("timeZone")
    except ValueError as err:
        raise MalformedEvent(f"bad {field}: {err}") from err
    raise MalformedEvent(f"{field} has neither date nor dateTime")


def _owner_response(item: Mapping[str, Any], owner_email: str | None) -> Response | None:
    for attendee in item.get("attendees") or ():
        is_owner = attendee.get("self") or (
            owner_email is not None and str(attendee.get("email", "")).lower() == owner_email.lower()
        )
        if is_owner:
            return _RESPONSES.get(str(attendee.get("responseStatus")))
    return None


def normalize_google_event(
    item: Mapping[str, Any], *, calendar_id: str, owner_email: str | None = None
) -> ExternalEvent:
    event_id = item.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEvent("event without id")
    status_text = item.get("status", "confirmed")
    try:
        status = EventStatus(status_text)
    except ValueError as err:
        raise MalformedEvent(f"unknown status {status_text!r}") from err
    original = item.get("originalStartTime")
    original_start = _when(original, "originalStartTime")[0] if original else None
    updated_raw = item.get("updated")
    common: dict[str, Any] = {
        "provider": Provider.GOOGLE,
        "calendar_id": calendar_id,
        "event_id": event_id,
        "status": status,
        "series_id": item.get("recurringEventId"),
        "original_start": original_start,
        "etag": item.get("etag"),
        "updated": _instant(updated_raw.replace("Z", "+00:00")) if updated_raw else None,
        "ical_uid": item.get("iCalUID"),
        "marker": read_marker(item),
    }
    if status is EventStatus.CANCELLED:
        return ExternalEvent(**common)
    start, start_date, zone = _when(item.get("start"), "start")
    end, end_date, _ = _when(item.get("end"), "end")
    if end < start:
        raise MalformedEvent("end before start")
    return ExternalEvent(
        **common,
        start=start,
        end=end,
        all_day=start_date is not None,
        start_date=start_date,
        end_date=end_date,
        time_zone=zone,
        transparent=item.get("transparency") == "transparent",
        owner_response=_owner_response(item, owner_email),
        tentative=status is EventStatus.TENTATIVE,
        recurrence=tuple(str(line) for line in item.get("recurrence") or ()),
    )
