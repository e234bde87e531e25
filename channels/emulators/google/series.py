"""Recurring series: instance ids, instance resources, and merging stored exceptions.

An instance of series ``S`` whose original start is ``T`` has id ``S_<T in UTC as
YYYYMMDDTHHMMSSZ>`` (``S_<YYYYMMDD>`` for all-day series). Instances are virtual until a client
modifies or deletes one; then an *exception* is stored under the instance id, carrying
``recurringEventId`` and ``originalStartTime`` (both immutable).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from channels.emulators.google.errors import Json
from channels.emulators.google.recurrence import Occurrence, RecurrenceError, occurrences
from channels.emulators.google.store import Calendar, StoredEvent
from channels.emulators.google.timeutil import EventTime, parse_event_time

# Fields that belong to the series, never to one of its instances.
_SERIES_ONLY = ("recurrence",)


def instance_suffix(original: Occurrence) -> str:
    if isinstance(original, datetime):
        return original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return original.strftime("%Y%m%d")


def instance_id(series_id: str, original: Occurrence) -> str:
    return f"{series_id}_{instance_suffix(original)}"


def split_instance_id(event_id: str) -> tuple[str, Occurrence] | None:
    """``(series id, original start)`` for an instance id, None for anything else."""
    series_id, sep, suffix = event_id.rpartition("_")
    if not sep or not series_id:
        return None
    try:
        if len(suffix) == 8 and suffix.isdigit():
            return series_id, datetime.strptime(suffix, "%Y%m%d").date()
        if len(suffix) == 16 and suffix.endswith("Z"):
            return series_id, datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return None


@dataclass(frozen=True, slots=True)
class SeriesShape:
    start: EventTime
    end: EventTime

    @property
    def duration(self) -> timedelta:
        if self.start.day is not None and self.end.day is not None:
            return self.end.day - self.start.day
        assert self.start.instant is not None and self.end.instant is not None
        return self.end.instant - self.start.instant


def shape_of(resource: Json) -> SeriesShape:
    return SeriesShape(parse_event_time(resource["start"], "start"), parse_event_time(resource["end"], "end"))


def original_starts(series: StoredEvent, until: datetime, limit: int) -> list[Occurrence]:
    shape = shape_of(series.resource)
    first: date | datetime
    if shape.start.day is not None:
        first = shape.start.day
    else:
        assert shape.start.instant is not None
        first = shape.start.instant
    try:
        return occurrences(series.resource.get("recurrence", []), first, shape.start.zone_name, until, limit)
    except RecurrenceError:
        return []


def original_start_json(original: Occurrence, zone_name: str | None, calendar: Calendar) -> Json:
    if isinstance(original, datetime):
        start = EventTime(None, original, zone_name)
    else:
        start = EventTime(original, None, None)
    return start.to_json(calendar.time_zone)


def materialize(series: StoredEvent, original: Occurrence, calendar: Calendar) -> Json:
    """The virtual instance of ``series`` at ``original``, as the API shows it."""
    shape = shape_of(series.resource)
    resource = copy.deepcopy(series.resource)
    for key in _SERIES_ONLY:
        resource.pop(key, None)
    if isinstance(original, datetime):
        start = EventTime(None, original, shape.start.zone_name)
        end = EventTime(None, original + shape.duration, shape.end.zone_name)
    else:
        start = EventTime(original, None, None)
        end = EventTime(original + shape.duration, None, None)
    resource["id"] = instance_id(series.id, original)
    resource["start"] = start.to_json(calendar.time_zone)
    resource["end"] = end.to_json(calendar.time_zone)
    resource["recurringEventId"] = series.id
    resource["originalStartTime"] = original_start_json(original, shape.start.zone_name, calendar)
    # An unmodified instance changes exactly when its series does.
    resource["etag"] = series.resource["etag"]
    return resource


def is_occurrence(series: StoredEvent, original: Occurrence, limit: int) -> bool:
    if isinstance(original, datetime):
        until = original + timedelta(seconds=1)
    else:
        until = datetime.combine(original + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    return any(_same(o, original) for o in original_starts(series, until, limit))


def _same(a: Occurrence, b: Occurrence) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b
    return not isinstance(a, datetime) and not isinstance(b, datetime) and a == b


def expand(series: StoredEvent, calendar: Calendar, until: datetime, limit: int) -> list[Json]:
    """All instances up to ``until``: virtual ones, with stored exceptions in their place."""
    exceptions = {ev.id: ev.resource for ev in calendar.events.values() if ev.series_id == series.id}
    out: list[Json] = []
    seen: set[str] = set()
    for original in original_starts(series, until, limit):
        iid = instance_id(series.id, original)
        seen.add(iid)
        out.append(
            copy.deepcopy(exceptions[iid]) if iid in exceptions else materialize(series, original, calendar)
        )
    # Exceptions whose original start lies beyond the horizon but were moved inside it.
    out.extend(copy.deepcopy(res) for iid, res in exceptions.items() if iid not in seen)
    return out
