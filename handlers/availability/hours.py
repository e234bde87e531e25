"""Working hours: weekly local hours plus date overrides, turned into UTC windows (pure).

Stored in ``profile.working_hours`` as
``{"weekly": {"monday": [["09:00", "17:00"]], ...}, "overrides": {"2026-12-24": []}}``.
Times are wall-clock times in the profile's time zone; ``24:00`` ends a day. A day
named in ``overrides`` uses those hours instead of its weekday's (``[]``: off). With
nothing stored every day is open all day (24 h), so a booking page without working
hours offers any free time.

DST: each local time is converted on its own date, so 09:00-17:00 is 8 hours of
wall time on transition days too, and the elapsed length only differs when the
transition falls inside the hours. A local time inside a spring-forward gap maps
to the instant after the gap (Python's ``fold=0`` rule); an ambiguous one (autumn)
to its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from calsync.errors import InvalidInput
from handlers.availability.intervals import Interval, merge, to_epoch

WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HHMM: Final = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_ALL_DAY: Final = ((0, 24 * 60),)
MAX_OVERRIDES: Final = 1000

Span = tuple[int, int]  # minutes since local midnight, end exclusive


@dataclass(frozen=True, slots=True)
class WorkingHours:
    weekly: Mapping[int, tuple[Span, ...]] = field(default_factory=dict)  # 0 = Monday
    overrides: Mapping[date, tuple[Span, ...]] = field(default_factory=dict)
    configured: bool = False

    def spans_on(self, day: date) -> tuple[Span, ...]:
        if not self.configured:
            return _ALL_DAY
        if day in self.overrides:
            return self.overrides[day]
        return self.weekly.get(day.weekday(), ())

    def to_json(self) -> dict[str, Any]:
        def spans(items: tuple[Span, ...]) -> list[list[str]]:
            return [[_hhmm(s), _hhmm(e)] for s, e in items]

        return {
            "weekly": {WEEKDAYS[d]: spans(self.weekly.get(d, ())) for d in range(7)},
            "overrides": {d.isoformat(): spans(v) for d, v in sorted(self.overrides.items())},
        }


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(field_name: str, raw: object) -> int:
    if not isinstance(raw, str) or not _HHMM.match(raw):
        raise InvalidInput(field_name, "must be a time HH:MM (00:00-24:00)")
    hours, minutes = raw.split(":")
    return int(hours) * 60 + int(minutes)


def _spans(field_name: str, raw: object) -> tuple[Span, ...]:
    if not isinstance(raw, list):
        raise InvalidInput(field_name, 'must be a list of ["HH:MM", "HH:MM"] pairs')
    out: list[Span] = []
    for index, pair in enumerate(raw):
        name = f"{field_name}.{index}"
        if not isinstance(pair, list) or len(pair) != 2:
            raise InvalidInput(name, 'must be a ["HH:MM", "HH:MM"] pair')
        start, end = _minutes(f"{name}.0", pair[0]), _minutes(f"{name}.1", pair[1])
        if end <= start:
            raise InvalidInput(f"{name}.1", "must be after the start")
        if out and start < out[-1][1]:
            raise InvalidInput(name, "must start after the previous range ends (sorted, no overlap)")
        out.append((start, end))
    return tuple(out)


def parse_working_hours(raw: Mapping[str, Any]) -> WorkingHours:
    """Validate the API/stored form; InvalidInput names the offending field."""
    unknown = set(raw) - {"weekly", "overrides"}
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "unknown field (expected weekly, overrides)")
    weekly_raw = raw.get("weekly", {})
    if not isinstance(weekly_raw, dict):
        raise InvalidInput("weekly", "must be an object keyed by weekday")
    weekly: dict[int, tuple[Span, ...]] = {}
    for name, spans in weekly_raw.items():
        if name not in WEEKDAYS:
            raise InvalidInput(f"weekly.{name}", "is not a weekday (monday ... sunday)")
        weekly[WEEKDAYS.index(name)] = _spans(f"weekly.{name}", spans)
    overrides_raw = raw.get("overrides", {})
    if not isinstance(overrides_raw, dict):
        raise InvalidInput("overrides", "must be an object keyed by date")
    if len(overrides_raw) > MAX_OVERRIDES:
        raise InvalidInput("overrides", f"at most {MAX_OVERRIDES} dates")
    overrides: dict[date, tuple[Span, ...]] = {}
    for key, spans in overrides_raw.items():
        try:
            day = date.fromisoformat(key) if len(key) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise InvalidInput(f"overrides.{key}", "is not a date YYYY-MM-DD")
        overrides[day] = _spans(f"overrides.{key}", spans)
    return WorkingHours(weekly, overrides, configured=True)


def stored_working_hours(raw: Mapping[str, Any] | None) -> WorkingHours:
    """From the JSON column: empty (never set) means open all day; bad stored data too."""
    if not raw:
        return WorkingHours()
    try:
        return parse_working_hours(raw)
    except InvalidInput:
        return WorkingHours()


def _instant(day: date, minutes: int, tz: ZoneInfo) -> int:
    if minutes == 24 * 60:
        return to_epoch(datetime.combine(day + timedelta(days=1), time(0), tz))
    return to_epoch(datetime.combine(day, time(minutes // 60, minutes % 60), tz))


def windows(hours: WorkingHours, start: int, end: int, tz: ZoneInfo, *, cut: bool = True) -> list[Interval]:
    """The working time inside ``[start, end)`` as normalized UTC intervals.

    ``cut=False`` keeps the windows that overlap the range whole, so a slot grid can stay
    anchored at the start of the working hours rather than at the query's start.
    """
    first = datetime.fromtimestamp(start, UTC).astimezone(tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, UTC).astimezone(tz).date() + timedelta(days=1)
    out: list[Interval] = []
    day = first
    while day <= last:
        for s, e in hours.spans_on(day):
            lo, hi = _instant(day, s, tz), _instant(day, e, tz)
            if lo < end and hi > start and lo < hi:
                out.append((max(lo, start), min(hi, end)) if cut else (lo, hi))
        day += timedelta(days=1)
    return merge(out)
