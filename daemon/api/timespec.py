"""Pure time rules for appointments: RFC 3339 instants or all-day dates, in, normalized fields, out.

A timed appointment gives instants with an explicit offset (a naive time is
ambiguous, so it is refused) and is stored in UTC. An all-day appointment gives
two dates (end exclusive); its instants are the local midnights in its time zone,
so window queries treat it like any other appointment.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

from calsync.errors import InvalidInput
from daemon.api.recurrence import check_rrule
from daemon.api.schemas import AppointmentIn
from store.appointments import AppointmentFields

_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?$"
)


def parse_when(field: str, raw: str) -> datetime | date:
    """A date (``YYYY-MM-DD``) or an aware datetime from RFC 3339 text; InvalidInput otherwise."""
    try:
        if _DATE.match(raw):
            return date.fromisoformat(raw)
        match = _DATE_TIME.match(raw)
        if match is None:
            raise InvalidInput(field, "must be an RFC 3339 date-time with offset or a YYYY-MM-DD date")
        if match.group("offset") is None:
            raise InvalidInput(
                field, "must include a UTC offset (e.g. Z or +01:00): a local time is ambiguous"
            )
        # fromisoformat takes at most 6 fractional digits; calendars work in seconds anyway.
        text = re.sub(r"(\.\d{6})\d+", r"\1", raw.replace("z", "Z").replace("t", "T"))
        return datetime.fromisoformat(text)
    except ValueError as err:
        raise InvalidInput(field, f"is not a valid date or time: {err}") from None


def parse_instant(field: str, raw: str) -> datetime:
    """An aware datetime (query windows take instants, never bare dates)."""
    value = parse_when(field, raw)
    if not isinstance(value, datetime):
        raise InvalidInput(field, "must be an RFC 3339 date-time with offset")
    return value


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def normalize_appointment(body: AppointmentIn, *, organization_id: str, time_zone: str) -> AppointmentFields:
    """Check the times and recurrence of ``body`` and turn it into storable fields."""
    zone = ZoneInfo(time_zone)
    start = parse_when("start", body.start)
    end = parse_when("end", body.end)
    all_day = not isinstance(start, datetime)
    if isinstance(end, datetime) != (not all_day):
        raise InvalidInput("end", "must be a date-time when start is one, and a date when start is a date")
    if end <= start:  # type: ignore[operator]  # same kind, checked above
        raise InvalidInput("end", "must be after start")
    start_date: str | None = None
    end_date: str | None = None
    if all_day:
        assert isinstance(start, date) and isinstance(end, date)
        start_utc, end_utc = local_midnight(start, zone), local_midnight(end, zone)
        start_date, end_date = start.isoformat(), end.isoformat()
        dtstart = datetime.combine(start, time(0))  # floating, as RFC 5545 wants for DATE values
    else:
        assert isinstance(start, datetime) and isinstance(end, datetime)
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        dtstart = start.astimezone(zone)
    rrule: str | None = None
    exdates: tuple[str, ...] = ()
    if body.recurrence is not None:
        rrule = check_rrule("recurrence.rrule", body.recurrence.rrule, dtstart)
        exdates = _exdates(body.recurrence.exdates, all_day)
    client = body.client
    return AppointmentFields(
        profile_id=body.profile,
        organization_id=organization_id,
        start_utc=start_utc,
        end_utc=end_utc,
        time_zone=time_zone,
        all_day=all_day,
        start_date=start_date,
        end_date=end_date,
        title=body.title,
        description=body.description,
        location=body.location,
        client_name=(client.name or "") if client else "",
        client_email=(client.email or "") if client else "",
        rrule=rrule,
        exdates=exdates,
        extra=dict(body.extra),
        status=body.status,
    )


def _exdates(raw: list[str], all_day: bool) -> tuple[str, ...]:
    """Sorted, de-duplicated: UTC ISO instants for timed series, dates for all-day ones."""
    values: set[str] = set()
    for index, text in enumerate(raw):
        field = f"recurrence.exdates.{index}"
        value = parse_when(field, text)
        if isinstance(value, datetime) == all_day:
            raise InvalidInput(field, "must be a date for all-day appointments and a date-time otherwise")
        values.add(value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value.isoformat())
    return tuple(sorted(values))
