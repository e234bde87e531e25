"""Microsoft Graph event JSON (as calendarView delta returns it) -> ExternalEvent. Pure.

The adapter asks for ``Prefer: outlook.timezone="UTC"``, so times arrive as UTC
wall times; other zones are still honoured when they are IANA names.
Busy rule (documented in DESIGN.md): ``showAs`` free and workingElsewhere do not
block; tentative blocks unless the profile says otherwise; busy, oof and
unknown block. ``isCancelled`` and ``@removed`` entries become tombstones;
``@removed`` ones must be verified before they cancel anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync.errors import PermanentProviderError
from channels.graph.marker import read_marker
from channels.model import EventStatus, ExternalEvent, Provider, Response

NOT_BLOCKING_SHOW_AS = frozenset({"free", "workingElsewhere"})
_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "tentativelyAccepted": Response.TENTATIVE,
    "declined": Response.DECLINED,
    "notResponded": Response.NEEDS_ACTION,
    "none": None,
    "organizer": None,
}


class MalformedGraphEvent(PermanentProviderError):
    """Graph sent an event we cannot interpret (logged and skipped, never guessed at)."""


def _zone(name: str | None) -> ZoneInfo | None:
    if not name or name.upper() in ("UTC", "ETC/UTC", "Z"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise MalformedGraphEvent(
            f"time zone {name!r} is not an IANA name; request outlook.timezone=UTC"
        ) from err


def _when(obj: Mapping[str, Any] | None, field: str) -> tuple[datetime, str | None]:
    if not obj or not obj.get("dateTime"):
        raise MalformedGraphEvent(f"missing {field}")
    try:
        wall = datetime.fromisoformat(str(obj["dateTime"]))
    except ValueError as err:
        raise MalformedGraphEvent(f"bad {field}: {err}") from err
    zone_name = obj.get("timeZone")
    if wall.tzinfo is None:
        wall = wall.replace(tzinfo=_zone(zone_name) or UTC)
    return wall.astimezone(UTC), zone_name


def _offset_instant(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def normalize_graph_event(item: Mapping[str, Any], *, calendar_id: str) -> ExternalEvent:
    event_id = item.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedGraphEvent("event without id")
    if "@removed" in item:
        return ExternalEvent(
            provider=Provider.MICROSOFT,
            calendar_id=calendar_id,
            event_id=event_id,
            status=EventStatus.CANCELLED,
            verify_deletion=True,
        )
    try:
        original_start = _offset_instant(item.get("originalStart"))
        updated = _offset_instant(item.get("lastModifiedDateTime"))
    except ValueError as err:
        raise MalformedGraphEvent(f"bad timestamp: {err}") from err
    common: dict[str, Any] = {
        "provider": Provider.MICROSOFT,
        "calendar_id": calendar_id,
        "event_id": event_id,
        "series_id": item.get("seriesMasterId"),
        "original_start": original_start,
        "etag": item.get("@odata.etag") or item.get("changeKey"),
        "updated": updated,
        "ical_uid": item.get("iCalUId"),
        "marker": read_marker(item),
    }
    if item.get("isCancelled"):
        return ExternalEvent(**common, status=EventStatus.CANCELLED)
    start, zone = _when(item.get("start"), "start")
    end, _ = _when(item.get("end"), "end")
    if end < start:
        raise MalformedGraphEvent("end before start")
    all_day = bool(item.get("isAllDay"))
    start_date: date | None = start.date() if all_day else None
    end_date: date | None = end.date() if all_day else None
    show_as = str(item.get("showAs") or "busy")
    response = (item.get("responseStatus") or {}).get("response")
    return ExternalEvent(
        **common,
        status=EventStatus.TENTATIVE if show_as == "tentative" else EventStatus.CONFIRMED,
        start=start,
        end=end,
        all_day=all_day,
        start_date=start_date,
        end_date=end_date,
        time_zone=item.get("originalStartTimeZone") or zone,
        transparent=show_as in NOT_BLOCKING_SHOW_AS,
        owner_response=_RESPONSES.get(str(response)) if response else None,
        tentative=show_as == "tentative",
    )
