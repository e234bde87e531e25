"""Shared pieces of the availability API: the index handle, query parsing, JSON shapes, the booking check.

The booking check is what ``PUT /v1/appointments/{id}`` runs before writing: inside the
write transaction it first locks the profile (``store.availability.lock_profile``), then
reads the profile's busy time through the index *with that transaction's session*, so
two racing bookings of one profile are serialized and the second one sees the first.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import InvalidInput
from daemon.api.problems import PROBLEM_CONTENT_TYPE
from daemon.api.registry import Param
from daemon.api.timespec import parse_instant
from handlers.availability.expand import Source, expand, zone
from handlers.availability.intervals import Interval, from_epoch, merge, to_epoch
from handlers.availability_index import AvailabilityIndex
from store.appointments import AppointmentFields
from store.availability import lock_profile
from store.tables import Appointment

MAX_WINDOW: Final = timedelta(days=366)
# A recurring booking is checked for its occurrences in this horizon from its start (or now).
RECURRING_HORIZON: Final = timedelta(days=366)
CONFLICT_TYPE: Final = "urn:calsync:problem:booking-conflict"

AVAILABILITY_INDEX = web.AppKey("availability_index", AvailabilityIndex)  # set by setup_api


def index_of(app: web.Application) -> AvailabilityIndex:
    return app[AVAILABILITY_INDEX]


def iso(value: int) -> str:
    return from_epoch(value).isoformat().replace("+00:00", "Z")


def interval_json(interval: Interval) -> dict[str, str]:
    return {"start": iso(interval[0]), "end": iso(interval[1])}


def window(start_field: str, start_raw: str, end_field: str, end_raw: str) -> Interval:
    """A validated ``[start, end)``: end after start, at most 366 days."""
    start, end = parse_instant(start_field, start_raw), parse_instant(end_field, end_raw)
    if end <= start:
        raise InvalidInput(end_field, "must be after start")
    if end - start > MAX_WINDOW:
        raise InvalidInput(end_field, "the window must not exceed 366 days")
    return to_epoch(start), to_epoch(end)


def _booked(fields: AppointmentFields, now: datetime) -> tuple[list[Interval], Interval]:
    """The new appointment's intervals (a series within its horizon) and the range they span."""
    start = to_epoch(fields.start_utc)
    if fields.rrule is None:
        return [(start, to_epoch(fields.end_utc))], (start, to_epoch(fields.end_utc))
    lo = max(fields.start_utc, now - timedelta(days=1))
    hi = max(fields.start_utc, now) + RECURRING_HORIZON
    first = datetime.fromisoformat(fields.start_date).date() if fields.all_day and fields.start_date else None
    days = 1
    if first is not None and fields.end_date:
        days = max(1, (datetime.fromisoformat(fields.end_date).date() - first).days)
    source = Source(
        fields.start_utc, fields.end_utc, fields.all_day, first, days, fields.time_zone, fields.rrule,
        frozenset(fields.exdates),
    )  # fmt: skip
    found = expand(source, to_epoch(lo), to_epoch(hi), zone(fields.time_zone))
    return found, (to_epoch(lo), to_epoch(hi))


def _same_times(existing: Appointment | None, fields: AppointmentFields) -> bool:
    return (
        existing is not None
        and existing.status != "cancelled"
        and existing.start_utc == fields.start_utc
        and existing.end_utc == fields.end_utc
        and existing.all_day == fields.all_day
        and existing.rrule == fields.rrule
        and list(existing.exdates) == list(fields.exdates)
    )


async def booking_conflicts(
    app: web.Application,
    session: AsyncSession,
    appointment_id: str,
    existing: Appointment | None,
    fields: AppointmentFields,
    now: datetime,
) -> list[Interval]:
    """Busy time the booking would overlap (its own appointment excluded); [] when it is free.

    Takes the profile's booking lock first. A cancellation never conflicts, and neither does
    a write that keeps the appointment's times (an idempotent retry, a title change).
    """
    if fields.status == "cancelled" or _same_times(existing, fields):
        return []
    await lock_profile(session, fields.profile_id)
    wanted, (lo, hi) = _booked(fields, now)
    if not wanted:
        return []
    snapshot = await index_of(app).snapshot(session, fields.profile_id, lo, hi, now)
    found: list[Interval] = []
    for start, end in wanted:
        found += snapshot.conflicts(start, end, exclude=appointment_id)
    return merge(found)


def conflict_response(conflicts: list[Interval], instance: str) -> web.Response:
    """409 problem body listing the busy intervals the booking overlaps."""
    body: dict[str, Any] = {
        "type": CONFLICT_TYPE,
        "title": "Booking conflict",
        "status": 409,
        "detail": f"The time overlaps {len(conflicts)} busy interval(s); "
        "send allow_conflict=true to book it anyway.",
        "instance": instance,
        "conflicts": [interval_json(c) for c in conflicts],
    }
    return web.Response(status=409, text=json.dumps(body), content_type=PROBLEM_CONTENT_TYPE)


def allow_conflict(request: web.Request) -> bool:
    raw = request.query.get("allow_conflict", "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidInput("allow_conflict", "must be true or false")
    return raw in ("true", "1")


ALLOW_CONFLICT_PARAM: Final = Param(
    "allow_conflict",
    "query",
    {"type": "boolean", "default": False},
    description="Book even if the time overlaps busy time. By default a PUT that would overlap the "
    "profile's busy time (pull calendars or other appointments; the appointment itself excluded) "
    "answers 409 with the `conflicts`; the check and the write are serialized per profile.",
)
