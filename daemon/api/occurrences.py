"""``/v1/appointments/{id}/occurrences/{original_start}``: move or cancel one occurrence of a series.

The occurrence is named by its original start (RFC 3339 with offset, or the marker form
``YYYYMMDDTHHMMSSZ``); it must be a real, not excluded occurrence of a timed series,
else 422. A PUT gives it its own times, a DELETE cancels that occurrence only; both
bump the appointment's version and publish ``appointment.occurrence_changed`` /
``appointment.occurrence_cancelled`` through the outbox in the same transaction.
Repeating either changes nothing. The series itself stays one event at the provider.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import Conflict, InvalidInput, NotFound
from daemon.api.appointments import MAX_ID_LENGTH, etag
from daemon.api.auth import principal_of
from daemon.api.body import json_response, path_id, read_model
from daemon.api.registry import Param, Reply, Route, id_param
from daemon.api.timespec import parse_instant
from daemon.appkeys import CLOCK, DATABASE
from handlers.drafts import is_occurrence
from store.appointments import CANCELLED_BY_HOST, load_for_write
from store.occurrences import (
    INSTANCE_KEY_FORMAT,
    cancel_occurrence,
    get_override,
    move_occurrence,
    override_snapshot,
)
from store.tables import Appointment

ITEM: Final = "/v1/appointments/{id}/occurrences/{original_start}"


class OccurrenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    start: str = Field(
        description="New start, RFC 3339 with offset.", json_schema_extra={"format": "date-time"}
    )
    end: str = Field(
        description="New end, exclusive, after `start`.", json_schema_extra={"format": "date-time"}
    )


class OccurrenceOut(BaseModel):
    appointment: str
    original_start: str
    start: str
    end: str
    status: str
    cancel_reason: str | None
    version: int


def original_start_of(request: web.Request) -> datetime:
    """The ``{original_start}`` segment: RFC 3339 with offset, or ``YYYYMMDDTHHMMSSZ``."""
    raw = request.match_info["original_start"]
    try:
        return datetime.strptime(raw, INSTANCE_KEY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return parse_instant("original_start", raw).astimezone(UTC)


async def _series(session: AsyncSession, request: web.Request, original_start: datetime) -> Appointment:
    appointment_id = path_id(request, MAX_ID_LENGTH)
    appt = await load_for_write(session, appointment_id, principal_of(request).scope)
    if appt is None:
        raise NotFound(f"no appointment {appointment_id!r}")
    if not appt.rrule or appt.all_day:
        raise InvalidInput(
            "original_start", "only occurrences of timed recurring appointments can be changed"
        )
    if appt.status == "cancelled":
        raise Conflict("the appointment is cancelled")
    if not is_occurrence(appt, original_start):
        raise InvalidInput("original_start", "is not an occurrence of this appointment's series")
    return appt


async def put_occurrence(request: web.Request) -> web.Response:
    original_start = original_start_of(request)
    body = await read_model(request, OccurrenceIn)
    start, end = parse_instant("start", body.start), parse_instant("end", body.end)
    if end <= start:
        raise InvalidInput("end", "must be after start")
    async with request.app[DATABASE].session() as session:
        appt = await _series(session, request, original_start)
        override = await move_occurrence(session, appt, original_start, start, end, request.app[CLOCK].now())
        return json_response(override_snapshot(override), 200, {"ETag": etag(appt)})


async def delete_occurrence(request: web.Request) -> web.Response:
    original_start = original_start_of(request)
    async with request.app[DATABASE].session() as session:
        appt = await _series(session, request, original_start)
        now = request.app[CLOCK].now()
        await cancel_occurrence(session, appt, original_start, CANCELLED_BY_HOST, now)
        override = await get_override(session, appt.id, original_start)
        assert override is not None  # just written, or already cancelled
        return json_response(override_snapshot(override), 200, {"ETag": etag(appt)})


_ID = id_param("id", "appointment", MAX_ID_LENGTH)
_ORIGINAL = Param(
    "original_start",
    "path",
    {"type": "string", "minLength": 16, "maxLength": 40},
    required=True,
    description="The occurrence's original start: RFC 3339 with offset, or `YYYYMMDDTHHMMSSZ` (UTC).",
)
_TAG = "appointments"
_ETAG = {"ETag": 'The appointment\'s new version, e.g. `"4"`.'}

ROUTES: Final = (
    Route(
        "PUT",
        ITEM,
        put_occurrence,
        "putOccurrence",
        "Move or edit one occurrence of a recurring appointment",
        _TAG,
        description="Gives that occurrence its own times (and reinstates it if it was cancelled); the "
        "appointment's version + 1 and `appointment.occurrence_changed` is published. Repeating it changes "
        "nothing. 422 when `original_start` is not an occurrence of the series.",
        params=(_ID, _ORIGINAL),
        body=OccurrenceIn,
        replies={200: Reply("The occurrence override.", OccurrenceOut, _ETAG)},
        problems=(400, 404, 409, 413, 415, 422),
    ),
    Route(
        "DELETE",
        ITEM,
        delete_occurrence,
        "cancelOccurrence",
        "Cancel one occurrence of a recurring appointment",
        _TAG,
        description="Cancels that occurrence only (`cancel_reason` = `cancelled_by_host`); the appointment's "
        "version + 1 and `appointment.occurrence_cancelled` is published. Repeating it changes nothing.",
        params=(_ID, _ORIGINAL),
        replies={200: Reply("The cancelled occurrence.", OccurrenceOut, _ETAG)},
        problems=(404, 409, 422),
    ),
)
