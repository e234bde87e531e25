"""Graph wire conventions: the error envelope, OData date/time shapes and time-zone names.

Everything here is written from the Graph documentation (resources/datetimetimezone, errors) and is
deliberately independent of calsync's own Graph adapter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The most common Windows zone names Graph accepts besides IANA names (a subset; see DESIGN note).
WINDOWS_ZONES: dict[str, str] = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "AUS Eastern Standard Time": "Australia/Sydney",
}


class GraphError(Exception):
    """An error the emulator answers with, rendered as Graph's ``{"error": {...}}`` envelope."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(
    code: str, message: str, *, now: datetime, request_id: str, client_request_id: str
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }


def resolve_zone(name: str) -> ZoneInfo:
    """IANA or common Windows zone name → ZoneInfo; Graph answers 400 for names it does not know."""
    key = WINDOWS_ZONES.get(name, name)
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. "
            f"The following TimeZone value is not supported: '{name}'.",
        ) from err


def parse_local(value: str) -> datetime:
    """Parse Graph's local ``dateTime`` (up to 7 fractional digits, no offset) as a naive datetime."""
    text = value.strip().rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as err:
        raise GraphError(
            400, "ErrorInvalidRequest", f"Cannot convert the literal '{value}' to a date/time."
        ) from err
    return parsed.replace(tzinfo=None)


def parse_dttz(obj: Any, field: str) -> tuple[datetime, str]:
    """A ``dateTimeTimeZone`` object → (aware UTC instant, zone name as given)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("dateTime"), str):
        raise GraphError(400, "ErrorInvalidRequest", f"The property '{field}' must be a dateTimeTimeZone.")
    zone_name = obj.get("timeZone") or "UTC"
    local = parse_local(obj["dateTime"])
    return local.replace(tzinfo=resolve_zone(zone_name)).astimezone(UTC), zone_name


def format_local(instant: datetime, zone_name: str) -> dict[str, str]:
    """UTC instant → ``{"dateTime", "timeZone"}`` in the zone the caller asked for."""
    local = instant.astimezone(resolve_zone(zone_name))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": zone_name}


def format_floating(day: date, zone_name: str) -> dict[str, str]:
    """All-day events are floating: midnight of the date, labelled with the output zone."""
    return {
        "dateTime": datetime.combine(day, time()).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
        "timeZone": zone_name,
    }


def iso_utc(instant: datetime) -> str:
    """Timestamp properties (``createdDateTime``…) use 7 fractional digits and ``Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_query_instant(value: str | None, name: str) -> datetime:
    """``startDateTime``/``endDateTime`` query values; no offset means UTC."""
    if not value:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters "
            f"StartDateTime and EndDateTime. Missing: {name}.",
        )
    text = value.strip().replace(" ", "+")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as err:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value '{value}' of parameter '{name}' is invalid."
        ) from err
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def parse_instant(value: Any, field: str) -> datetime:
    """An ``Edm.DateTimeOffset`` body value (e.g. ``expirationDateTime``)."""
    if not isinstance(value, str):
        raise GraphError(
            400, "InvalidRequest", f"The property '{field}' is required and must be a DateTimeOffset."
        )
    return parse_query_instant(value, field)
