"""``/v1/appointments``: the host's appointments, upserted idempotently by the host's own id.

A PUT of identical content is a no-op (200, same version, nothing published);
changed content bumps the version; DELETE cancels (never forgets) and repeating
it changes nothing. ``ETag`` carries the version and ``If-Match`` guards writes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from calsync.errors import InvalidInput, NotFound
from daemon.api.auth import Principal, principal_of
from daemon.api.availability_support import (
    ALLOW_CONFLICT_PARAM,
    allow_conflict,
    booking_conflicts,
    conflict_response,
)
from daemon.api.body import (
    cursor_instant,
    cursor_text,
    decode_cursor,
    encode_cursor,
    json_response,
    path_id,
    query_int,
    query_required,
    read_model,
)
from daemon.api.problems import ApiProblem
from daemon.api.recurrence import occurs_in
from daemon.api.registry import CURSOR, IF_MATCH, LIMIT, Param, Reply, Route, id_param
from daemon.api.schemas import AppointmentIn, AppointmentOut, AppointmentPage
from daemon.api.timespec import normalize_appointment, parse_instant
from daemon.appkeys import CLOCK, DATABASE
from store.appointments import (
    CANCELLED_BY_HOST,
    Outcome,
    cancel_appointment,
    cursor_key,
    get_appointment,
    list_appointments,
    load_for_write,
    snapshot,
    upsert_appointment,
)
from store.db import Database
from store.profiles import get_profile
from store.tables import Appointment

COLLECTION: Final = "/v1/appointments"
ITEM: Final = "/v1/appointments/{id}"
MAX_ID_LENGTH: Final = 200
MAX_WINDOW: Final = timedelta(days=366)
# A concurrent PUT of the same new id loses the insert race once; the retry then sees the winner's row.
_PUT_ATTEMPTS: Final = 2


def etag(appt: Appointment) -> str:
    return f'"{appt.version}"'


def if_match_satisfied(header: str | None, current: Appointment | None) -> bool:
    """RFC 9110 If-Match with strong comparison: ``*`` or a listed tag equal to the version."""
    if header is None:
        return True
    if current is None:
        return False
    tags = {tag.strip() for tag in header.split(",")}
    return "*" in tags or etag(current) in tags


def _check_precondition(request: web.Request, current: Appointment | None) -> None:
    if not if_match_satisfied(request.headers.get("If-Match"), current):
        raise ApiProblem(
            412,
            "If-Match does not match the current version of the appointment.",
            type_="urn:calsync:problem:version-mismatch",
        )


def _reply(appt: Appointment, status: int = 200) -> web.Response:
    return json_response(snapshot(appt), status, {"ETag": etag(appt)})


async def _put_once(
    db: Database, request: web.Request, appointment_id: str, body: AppointmentIn, principal: Principal
) -> web.Response:
    async with db.session() as session:
        existing = await load_for_write(session, appointment_id, principal.scope)
        _check_precondition(request, existing)
        try:
            profile = await get_profile(session, body.profile, principal.scope)
        except NotFound:
            raise InvalidInput("profile", f"unknown profile {body.profile!r}") from None
        if existing is not None and existing.organization_id != profile.organization_id:
            raise InvalidInput("profile", "belongs to another organization than this appointment")
        fields = normalize_appointment(
            body, organization_id=profile.organization_id, time_zone=body.time_zone or profile.time_zone
        )
        if not allow_conflict(request):
            now = request.app[CLOCK].now()
            conflicts = await booking_conflicts(request.app, session, appointment_id, existing, fields, now)
            if conflicts:
                return conflict_response(conflicts, request.path)
        appt, outcome = await upsert_appointment(
            session, appointment_id, existing, fields, request.app[CLOCK].now()
        )
        return _reply(appt, 201 if outcome is Outcome.CREATED else 200)


async def put_appointment(request: web.Request) -> web.Response:
    appointment_id = path_id(request, MAX_ID_LENGTH)
    body = await read_model(request, AppointmentIn)
    principal = principal_of(request)
    db = request.app[DATABASE]
    for attempt in range(_PUT_ATTEMPTS):
        try:
            return await _put_once(db, request, appointment_id, body, principal)
        except IntegrityError:
            if attempt + 1 == _PUT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def get_appointment_view(request: web.Request) -> web.Response:
    appointment_id = path_id(request, MAX_ID_LENGTH)
    async with request.app[DATABASE].session() as session:
        appt = await get_appointment(session, appointment_id, principal_of(request).scope)
        return _reply(appt)


async def delete_appointment(request: web.Request) -> web.Response:
    appointment_id = path_id(request, MAX_ID_LENGTH)
    async with request.app[DATABASE].session() as session:
        appt = await load_for_write(session, appointment_id, principal_of(request).scope)
        if appt is None:
            raise NotFound(f"no appointment {appointment_id!r}")
        _check_precondition(request, appt)
        await cancel_appointment(session, appt, CANCELLED_BY_HOST, request.app[CLOCK].now())
        return _reply(appt)


async def list_appointments_view(request: web.Request) -> web.Response:
    principal = principal_of(request)
    profile_id = query_required(request, "profile")
    start = parse_instant("start", query_required(request, "start"))
    end = parse_instant("end", query_required(request, "end"))
    if end <= start:
        raise InvalidInput("end", "must be after start")
    if end - start > MAX_WINDOW:
        raise InvalidInput("end", "the window must not exceed 366 days")
    limit = query_int(request, "limit", 50, 1, 200)
    position = decode_cursor(request)
    after = (cursor_instant(position, "at"), cursor_text(position, "id")) if position is not None else None
    async with request.app[DATABASE].session() as session:
        try:
            await get_profile(session, profile_id, principal.scope)
        except NotFound:
            raise InvalidInput("profile", f"unknown profile {profile_id!r}") from None
        rows, more = await list_appointments(
            session,
            profile_id=profile_id,
            start=start,
            end=end,
            after=after,
            limit=limit,
            occurs_in=occurs_in,
        )
        items = [snapshot(a) for a in rows]
    next_cursor = None
    if more and rows:
        at, last_id = cursor_key(rows[-1])
        next_cursor = encode_cursor({"at": at.isoformat(), "id": last_id})
    return json_response({"items": items, "next_cursor": next_cursor})


_ID = id_param("id", "appointment", MAX_ID_LENGTH)
_TAG = "appointments"
_ETAG = {"ETag": 'The version, e.g. `"3"`.'}
_WHEN = {"type": "string", "format": "date-time"}

ROUTES: Final = (
    Route(
        "PUT",
        ITEM,
        put_appointment,
        "putAppointment",
        "Create or replace an appointment",
        _TAG,
        description="Idempotent upsert keyed by the host's id: 201 + version 1 when new; 200 with the same "
        "version and nothing published when the content is unchanged; version + 1 when it changed.",
        params=(_ID, IF_MATCH, ALLOW_CONFLICT_PARAM),
        body=AppointmentIn,
        replies={
            201: Reply("Created.", AppointmentOut, _ETAG),
            200: Reply("Updated or unchanged.", AppointmentOut, _ETAG),
        },
        problems=(400, 404, 409, 412, 413, 415, 422),
    ),
    Route(
        "GET",
        ITEM,
        get_appointment_view,
        "getAppointment",
        "Read an appointment",
        _TAG,
        params=(_ID,),
        replies={200: Reply("The appointment.", AppointmentOut, _ETAG)},
        problems=(404, 422),
    ),
    Route(
        "DELETE",
        ITEM,
        delete_appointment,
        "cancelAppointment",
        "Cancel an appointment",
        _TAG,
        description="Marks it cancelled (`cancel_reason` = `cancelled_by_host`, version + 1); it is never "
        "forgotten. Repeating the DELETE answers 200 with the same body and publishes nothing.",
        params=(_ID, IF_MATCH),
        replies={200: Reply("The cancelled appointment.", AppointmentOut, _ETAG)},
        problems=(404, 412, 422),
    ),
    Route(
        "GET",
        COLLECTION,
        list_appointments_view,
        "listAppointments",
        "List a profile's appointments in a window",
        _TAG,
        description="Appointments (any status) overlapping `[start, end)`, ordered by start (a series "
        "by its first start). A recurring series is listed when at least one of its occurrences, "
        "EXDATEs removed, overlaps the window. The window may span at most 366 days.",
        params=(
            Param("profile", "query", {"type": "string"}, required=True, description="Profile id."),
            Param(
                "start", "query", _WHEN, required=True, description="Window start (RFC 3339, with offset)."
            ),
            Param("end", "query", _WHEN, required=True, description="Window end, exclusive."),
            LIMIT,
            CURSOR,
        ),
        replies={200: Reply("One page of appointments.", AppointmentPage)},
        problems=(422,),
    ),
)
