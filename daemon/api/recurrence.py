"""Pure recurrence rules: validate a host's RRULE and decide whether a series meets a window.

Only one RRULE line is accepted (no DTSTART: the appointment's start is the
series start; no RDATE/EXDATE lines: exceptions go in ``exdates``). Sub-daily
frequencies are refused: calendar providers do not support them and expanding
them over years would be unbounded work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from calsync.errors import InvalidInput
from store.tables import Appointment

_ALLOWED_FREQ: Final = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")


def check_rrule(field: str, raw: str, dtstart: datetime) -> str:
    """The rule without its ``RRULE:`` prefix, if dateutil accepts it for ``dtstart``."""
    text = raw.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    upper = text.upper()
    if "\n" in text or "\r" in text or ":" in text:
        raise InvalidInput(field, "must be a single RRULE (put exceptions in exdates)")
    if "DTSTART" in upper:
        raise InvalidInput(field, "must not contain DTSTART: the appointment's start is the series start")
    parts = dict(part.partition("=")[::2] for part in upper.split(";") if part)
    if parts.get("FREQ") not in _ALLOWED_FREQ:
        raise InvalidInput(field, "FREQ must be one of " + ", ".join(_ALLOWED_FREQ))
    try:
        parsed = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise InvalidInput(field, f"is not a valid RRULE: {err}") from None
    if not isinstance(parsed, rrule):
        raise InvalidInput(field, "must be a single RRULE")
    if next(iter(parsed), None) is None:
        raise InvalidInput(field, "produces no occurrence (check COUNT and UNTIL)")
    return text


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def occurs_in(appt: Appointment, start: datetime, end: datetime) -> bool:
    """Whether an occurrence of the series (EXDATEs removed) overlaps ``[start, end)``.

    Occurrences are walked from the series start and the walk stops at the first
    one at or after ``end``, so the cost is bounded by the occurrences before the window.
    """
    if appt.rrule is None:
        return appt.start_utc < end and appt.end_utc > start
    zone = _zone(appt.time_zone)
    if appt.all_day and appt.start_date and appt.end_date:
        # All-day series recur on floating dates; compare in the zone's wall time.
        first = datetime.fromisoformat(appt.start_date)
        duration = datetime.fromisoformat(appt.end_date) - first
        lo = start.astimezone(zone).replace(tzinfo=None)
        hi = end.astimezone(zone).replace(tzinfo=None)
        excluded = {datetime.fromisoformat(x) for x in appt.exdates}
    else:
        first = appt.start_utc.astimezone(zone)
        duration = appt.end_utc - appt.start_utc
        lo, hi = start.astimezone(UTC), end.astimezone(UTC)
        excluded = {datetime.fromisoformat(x) for x in appt.exdates}
    for occurrence in rrulestr(appt.rrule, dtstart=first):
        # Timed occurrences are compared as UTC instants, so a DST change cannot shift the duration.
        at = occurrence.astimezone(UTC) if occurrence.tzinfo is not None else occurrence
        if at >= hi:
            return False
        if at + duration > lo and occurrence not in excluded:
            return True
    return False
