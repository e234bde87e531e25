"""Time formats of the Calendar API: RFC 3339 instants, ``EventDateTime`` objects, HTTP dates.

Pure functions; "now" always comes from the caller's Clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from channels.emulators.google.errors import ApiError, Json, invalid

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT"})


def parse_rfc3339(value: str) -> datetime:
    """An aware datetime from an RFC 3339 timestamp; the offset is mandatory (ValueError if not)."""
    text = value.strip()
    if len(text) < 11 or text[10] not in "Tt":
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"RFC 3339 date-time without offset: {value!r}")
    return parsed


def parse_query_time(value: str, name: str) -> datetime:
    try:
        return parse_rfc3339(value)
    except ValueError as err:
        raise invalid("Bad Request", location=name) from err


def format_millis(moment: datetime) -> str:
    """``created``/``updated`` style: UTC with milliseconds, ``2026-01-05T09:00:00.000Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def format_in_zone(moment: datetime, zone_name: str) -> str:
    """An event ``dateTime``: seconds precision, offset of the event's (or calendar's) zone."""
    if zone_name in _UTC_NAMES:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.astimezone(zone(zone_name)).replace(microsecond=0).isoformat()


def http_date(moment: datetime) -> str:
    """``X-Goog-Channel-Expiration`` style: ``Tue, 19 Nov 2013 01:13:52 GMT``."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name!r}") from err


def midnight(day: date, zone_name: str) -> datetime:
    """All-day dates are read in the calendar's zone when compared with instants."""
    return datetime.combine(day, time(0), tzinfo=zone(zone_name))


@dataclass(frozen=True, slots=True)
class EventTime:
    """A parsed ``EventDateTime``: either ``day`` (all-day) or ``instant`` (timed), plus its zone."""

    day: date | None
    instant: datetime | None
    zone_name: str | None

    @property
    def all_day(self) -> bool:
        return self.day is not None

    def as_instant(self, calendar_zone: str) -> datetime:
        if self.instant is not None:
            return self.instant
        assert self.day is not None
        return midnight(self.day, calendar_zone)

    def to_json(self, calendar_zone: str) -> Json:
        if self.day is not None:
            return {"date": self.day.isoformat()}
        assert self.instant is not None
        out: Json = {"dateTime": format_in_zone(self.instant, self.zone_name or calendar_zone)}
        if self.zone_name is not None:
            out["timeZone"] = self.zone_name
        return out

    def shifted(self, delta: timedelta) -> EventTime:
        if self.day is not None:
            return EventTime(self.day + delta, None, None)
        assert self.instant is not None
        return EventTime(None, self.instant + delta, self.zone_name)


def parse_event_time(raw: Any, which: str) -> EventTime:
    """Validate one ``start``/``end`` object the way the API does (400 with Google's messages)."""
    if not isinstance(raw, dict) or not (raw.get("date") or raw.get("dateTime")):
        raise ApiError(400, "required", f"Missing {which} time.")
    zone_name = raw.get("timeZone")
    if zone_name is not None:
        try:
            zone(str(zone_name))
        except ValueError as err:
            raise ApiError(400, "invalid", f"Invalid time zone definition for {which} time.") from err
    if raw.get("date") and raw.get("dateTime"):
        raise ApiError(400, "invalid", f"Invalid {which} time.")
    if raw.get("date"):
        try:
            return EventTime(date.fromisoformat(str(raw["date"])), None, None)
        except ValueError as err:
            raise ApiError(400, "invalid", f"Invalid {which} time.") from err
    text = str(raw["dateTime"])
    try:
        return EventTime(None, parse_rfc3339(text), zone_name)
    except ValueError:
        pass
    # "A time zone offset is required unless a time zone is explicitly specified in timeZone."
    if zone_name is None:
        raise ApiError(400, "required", f"Missing time zone definition for {which} time.")
    try:
        local = datetime.fromisoformat(text)
    except ValueError as err:
        raise ApiError(400, "invalid", f"Invalid {which} time.") from err
    if local.tzinfo is not None:
        raise ApiError(400, "invalid", f"Invalid {which} time.")
    return EventTime(None, local.replace(tzinfo=zone(zone_name)), zone_name)
