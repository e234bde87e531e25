"""Pure recurrence expansion: one busy source (event, block or appointment) -> intervals in a window.

Timed series recur in their own time zone's wall time (a 09:00 weekly meeting stays
at 09:00 local across DST, so its UTC instant moves) and keep their duration in
elapsed seconds. All-day sources block whole local days in the PROFILE's time zone
(the profile is the person whose availability is asked for; a foreign all-day
event carries dates, not instants), so a one-day event is 23 or 25 hours long on
DST days.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rruleset, rrulestr

from handlers.availability.intervals import Interval, to_epoch

# A runaway rule (or a year-long window over a daily series) must not stall a request.
MAX_OCCURRENCES: Final = 5000
_UNTIL: Final = re.compile(r"UNTIL=(\d{8})(T\d{6})?(Z?)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Source:
    """What the expansion needs of one busy source; no titles, ever."""

    start_utc: datetime
    end_utc: datetime
    all_day: bool = False
    start_date: date | None = None  # all-day: the first (local) date
    days: int = 1  # all-day: length in days
    time_zone: str = "UTC"
    rrule: str | None = None  # RRULE/RDATE lines (with or without the ``RRULE:`` prefix)
    exdates: frozenset[str] = frozenset()  # UTC ISO instants (timed) or ISO dates (all-day)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The named zone, UTC for unknown names (a bad zone must not hide busy time)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_midnight(day: date, tz: ZoneInfo) -> int:
    return to_epoch(datetime.combine(day, time(0), tz))


def _fix_until(text: str, tz: ZoneInfo | None) -> str:
    """dateutil wants UNTIL in UTC for zoned starts and floating for floating ones; providers vary.

    A zoned series whose UNTIL is a local time or a bare date (not RFC 5545, but seen in the
    wild) is read in the series' zone: a bare date means the end of that local day.
    """

    def repl(m: re.Match[str]) -> str:
        day, clock, utc = m.group(1), m.group(2), m.group(3)
        if tz is None:
            return f"UNTIL={day}{clock or ''}"
        if utc:
            return m.group(0)
        local = datetime.strptime(day + (clock or "T235959"), "%Y%m%dT%H%M%S").replace(tzinfo=tz)
        return "UNTIL=" + local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return _UNTIL.sub(repl, text) if "UNTIL" in text.upper() else text


def _rules(text: str, dtstart: datetime) -> rruleset:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    body = "\n".join(ln if ":" in ln else f"RRULE:{ln}" for ln in lines)
    tz = dtstart.tzinfo if isinstance(dtstart.tzinfo, ZoneInfo) else None
    parsed = rrulestr(_fix_until(body, tz), dtstart=dtstart, forceset=True)
    assert isinstance(parsed, rruleset)
    return parsed


def _iso_epoch(value: str) -> int | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return to_epoch(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _timed(src: Source, lo: int, hi: int) -> Iterator[Interval]:
    start, end = to_epoch(src.start_utc), to_epoch(src.end_utc)
    if src.rrule is None:
        if start < hi and end > lo:
            yield start, end
        return
    duration = end - start
    tz = zone(src.time_zone)
    excluded = {e for e in (_iso_epoch(x) for x in src.exdates) if e is not None}
    try:
        rules = _rules(src.rrule, src.start_utc.astimezone(tz))
    except (ValueError, TypeError, KeyError, IndexError):
        # An unparseable rule still blocks its first occurrence rather than nothing.
        if start < hi and end > lo:
            yield start, end
        return
    after = datetime.fromtimestamp(lo - duration, UTC).astimezone(tz)
    before = datetime.fromtimestamp(hi, UTC).astimezone(tz)
    for count, occurrence in enumerate(rules.xafter(after, inc=False)):
        at = to_epoch(occurrence)
        if at >= hi or occurrence > before or count >= MAX_OCCURRENCES:
            return
        if at not in excluded and at + duration > lo:
            yield at, at + duration


def _all_day(src: Source, lo: int, hi: int, profile_zone: ZoneInfo) -> Iterator[Interval]:
    first = src.start_date or src.start_utc.astimezone(UTC).date()
    days = max(src.days, 1)
    if src.rrule is None:
        dates: Iterator[date] = iter((first,))
    else:
        try:
            rules = _rules(src.rrule, datetime.combine(first, time(0)))
        except (ValueError, TypeError, KeyError, IndexError):
            rules = None
        if rules is None:
            dates = iter((first,))
        else:
            # Local dates around the window, widened by the length and a day of zone slack.
            lo_day = datetime.fromtimestamp(lo, UTC).date() - timedelta(days=days + 1)
            dates = (o.date() for o in rules.xafter(datetime.combine(lo_day, time(0)), inc=True))
    hi_day = datetime.fromtimestamp(hi, UTC).date() + timedelta(days=1)
    excluded = set(src.exdates)
    for count, day in enumerate(dates):
        if day > hi_day or count >= MAX_OCCURRENCES:
            return
        if day.isoformat() in excluded:
            continue
        start = local_midnight(day, profile_zone)
        end = local_midnight(day + timedelta(days=days), profile_zone)
        if start < hi and end > lo:
            yield start, end


def expand(src: Source, lo: int, hi: int, profile_zone: ZoneInfo) -> list[Interval]:
    """The intervals of ``src`` that overlap ``[lo, hi)`` (unclipped), in start order."""
    if src.all_day:
        return list(_all_day(src, lo, hi, profile_zone))
    return list(_timed(src, lo, hi))
