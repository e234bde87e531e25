"""Expansion of an event's ``recurrence`` lines (RRULE, RDATE, EXDATE) into original starts.

Timed series are expanded in the series' ``timeZone`` (wall-clock, so a 09:00 meeting stays at
09:00 across DST); all-day series are expanded over plain dates. DTSTART always counts as the
first occurrence (RFC 5545 §3.8.5.3). Pure: the caller supplies the horizon.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

Occurrence = date | datetime
_UNTIL = re.compile(r"UNTIL=([0-9T]+Z?)", re.IGNORECASE)


class RecurrenceError(ValueError):
    """A recurrence line the emulator (and so, presumably, Google) cannot interpret."""


def _fix_until(rule: str, first: date | datetime, tz: ZoneInfo | None) -> str:
    """dateutil insists UNTIL is UTC for zoned starts and floating for all-day ones; RFC 5545
    says the same, but clients also send a bare date, which Google accepts: normalise it."""
    match = _UNTIL.search(rule)
    if match is None:
        return rule
    raw = match.group(1).upper()
    if tz is None:  # all-day series: compare floating dates
        fixed = raw[:8]
    elif raw.endswith("Z"):
        return rule
    else:
        if len(raw) == 8:
            local = datetime.combine(date(int(raw[:4]), int(raw[4:6]), int(raw[6:8])), time(23, 59, 59))
        else:
            local = datetime.strptime(raw, "%Y%m%dT%H%M%S")
        fixed = local.replace(tzinfo=tz).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return rule[: match.start(1)] + fixed + rule[match.end(1) :]


def _parse_values(line: str, tz: ZoneInfo | None) -> list[Occurrence]:
    """Values of an RDATE/EXDATE line, honouring ``TZID=`` and ``VALUE=DATE`` parameters."""
    head, _, values = line.partition(":")
    params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
    value_zone = ZoneInfo(params["TZID"]) if "TZID" in params else tz
    out: list[Occurrence] = []
    for raw in filter(None, values.split(",")):
        raw = raw.strip().upper()
        if len(raw) == 8:
            day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
            out.append(day if tz is None else datetime.combine(day, time(0), tzinfo=tz))
            continue
        moment = datetime.strptime(raw.rstrip("Z"), "%Y%m%dT%H%M%S")
        aware = moment.replace(tzinfo=UTC if raw.endswith("Z") else (value_zone or UTC))
        out.append(aware.date() if tz is None else aware.astimezone(tz))
    return out


def occurrences(
    recurrence: Sequence[str],
    first: date | datetime,
    zone_name: str | None,
    until: datetime,
    limit: int,
) -> list[Occurrence]:
    """Original starts of the series in order, from ``first`` up to (excluding) ``until``.

    ``first`` is a date for all-day series, else an aware datetime; results have the same type
    (datetimes in the series zone).
    """
    tz = ZoneInfo(zone_name) if isinstance(first, datetime) and zone_name else None
    if isinstance(first, datetime):
        tz = tz or ZoneInfo("UTC")
        start: datetime = first.astimezone(tz)
    else:
        start = datetime.combine(first, time(0))
    rules: list[Iterator[datetime]] = []
    extra: set[Occurrence] = {first if not isinstance(first, datetime) else start}
    excluded: set[Occurrence] = set()
    try:
        for line in recurrence:
            name = line.split(":", 1)[0].split(";", 1)[0].upper()
            if name == "RRULE":
                rules.append(iter(rrulestr(_fix_until(line, first, tz), dtstart=start)))
            elif name == "RDATE":
                extra.update(_parse_values(line, tz))
            elif name == "EXDATE":
                excluded.update(_parse_values(line, tz))
            else:
                raise RecurrenceError(f"unsupported recurrence line {line!r}")
    except (ValueError, KeyError) as err:
        raise RecurrenceError(str(err)) from err

    def normal(moment: datetime) -> Occurrence:
        return moment.date() if tz is None else moment

    def before_until(value: Occurrence) -> bool:
        if isinstance(value, datetime):
            return value < until
        return datetime.combine(value, time(0), tzinfo=UTC) < until + timedelta(days=1)

    found: set[Occurrence] = {value for value in extra if before_until(value)}
    for rule in rules:
        for moment in islice(rule, limit + len(excluded) + 1):
            value = normal(moment)
            if not before_until(value):
                break
            found.add(value)
    ordered = sorted(value for value in found if value not in excluded)
    return ordered[:limit]
