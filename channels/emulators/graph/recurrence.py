"""Expansion of a Graph ``patternedRecurrence`` into the series' occurrence start instants.

Follows resources/recurrencepattern and resources/recurrencerange: the pattern fixes which days
recur; the range (``endDate`` inclusive, ``numbered`` or ``noEnd``) where it stops. Occurrences keep
the master's local wall-clock time in the series zone, so they move in UTC across DST changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

from .wire import GraphError

DAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
PATTERN_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
RANGE_TYPES = ("endDate", "noEnd", "numbered")
#: A guard against runaway expansion of ``noEnd`` series over huge windows.
MAX_OCCURRENCES = 5000


def _bad(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


def _days(pattern: dict[str, Any]) -> list[rrule.weekday]:
    names = pattern.get("daysOfWeek") or []
    try:
        return [DAYS[str(n).lower()] for n in names]
    except KeyError as err:
        raise _bad(f"Invalid daysOfWeek value {err}.") from err


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as err:
        raise _bad(f"Invalid recurrence range {field} '{value}'.") from err


def validate(recurrence: dict[str, Any]) -> None:
    """Reject what Graph rejects up front (unknown types, missing start date, empty weekly days)."""
    pattern = recurrence.get("pattern") or {}
    rng = recurrence.get("range") or {}
    if pattern.get("type") not in PATTERN_TYPES:
        raise _bad(f"Invalid recurrence pattern type '{pattern.get('type')}'.")
    if rng.get("type") not in RANGE_TYPES:
        raise _bad(f"Invalid recurrence range type '{rng.get('type')}'.")
    _date(rng.get("startDate"), "startDate")
    if rng["type"] == "endDate":
        _date(rng.get("endDate"), "endDate")
    if rng["type"] == "numbered" and int(rng.get("numberOfOccurrences") or 0) <= 0:
        raise _bad("numberOfOccurrences must be positive for a numbered range.")
    if pattern["type"] in ("weekly", "relativeMonthly", "relativeYearly") and not _days(pattern):
        raise _bad("daysOfWeek is required for this recurrence pattern.")
    if int(pattern.get("interval") or 1) < 1:
        raise _bad("interval must be at least 1.")


def _rule(recurrence: dict[str, Any], start_time: time) -> rrule.rrule:
    pattern = recurrence["pattern"]
    rng = recurrence["range"]
    kind = pattern["type"]
    dtstart = datetime.combine(_date(rng["startDate"], "startDate"), start_time)
    kwargs: dict[str, Any] = {"dtstart": dtstart, "interval": int(pattern.get("interval") or 1)}
    if rng["type"] == "endDate":
        kwargs["until"] = datetime.combine(_date(rng["endDate"], "endDate"), time.max)
    elif rng["type"] == "numbered":
        kwargs["count"] = int(rng["numberOfOccurrences"])
    index = INDEX.get(str(pattern.get("index") or "first"), 1)
    if kind == "daily":
        return rrule.rrule(rrule.DAILY, **kwargs)
    if kind == "weekly":
        wkst = DAYS.get(str(pattern.get("firstDayOfWeek") or "sunday").lower(), rrule.SU)
        return rrule.rrule(rrule.WEEKLY, byweekday=_days(pattern), wkst=wkst, **kwargs)
    if kind == "absoluteMonthly":
        return rrule.rrule(rrule.MONTHLY, bymonthday=int(pattern.get("dayOfMonth") or dtstart.day), **kwargs)
    if kind == "relativeMonthly":
        return rrule.rrule(rrule.MONTHLY, byweekday=_days(pattern), bysetpos=index, **kwargs)
    month = int(pattern.get("month") or dtstart.month)
    if kind == "absoluteYearly":
        return rrule.rrule(
            rrule.YEARLY, bymonth=month, bymonthday=int(pattern.get("dayOfMonth") or dtstart.day), **kwargs
        )
    return rrule.rrule(rrule.YEARLY, bymonth=month, byweekday=_days(pattern), bysetpos=index, **kwargs)


def expand(
    recurrence: dict[str, Any], first_local: datetime, zone: ZoneInfo, until: datetime
) -> Iterator[datetime]:
    """Yield occurrence starts (aware UTC, ascending) that begin before ``until``.

    ``first_local`` is the master's naive local start; only its wall-clock time is used, the first
    date comes from ``range.startDate`` (dateutil, like Graph, skips a start date that does not fit).
    """
    for n, local in enumerate(_rule(recurrence, first_local.time())):
        instant = local.replace(tzinfo=zone).astimezone(UTC)
        if instant >= until or n >= MAX_OCCURRENCES:
            return
        yield instant
