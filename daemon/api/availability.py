"""Availability for booking pages: busy time, conflict checks, bookable slots, working hours, teams.

Every answer is computed from the profile's in-memory index (``handlers.availability_index``),
which is checked against the store on each request, so answers are as fresh as the store.
Busy intervals are half-open ``[start, end)`` UTC instants and never say anything else about
a foreign event (no titles, no calendar of origin). Rules: tentative and all-day foreign events
block unless the profile's settings say otherwise (``tentative_blocks``, ``all_day_blocks``);
an all-day event blocks the whole local day(s) in the profile's time zone; free/transparent,
declined and cancelled events never become busy blocks; cancelled appointments and cancelled
occurrences never block.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import InvalidInput, NotFound
from daemon.api.auth import principal_of
from daemon.api.availability_schemas import (
    AvailabilityOut,
    ConflictsIn,
    ConflictsOut,
    SlotsOut,
    TeamIn,
    TeamOut,
    WorkingHoursIn,
    WorkingHoursOut,
)
from daemon.api.availability_support import MAX_WINDOW, index_of, interval_json, iso, window
from daemon.api.body import json_response, path_id, query_int, query_required, read_model
from daemon.api.registry import Param, Reply, Route, id_param
from daemon.appkeys import CLOCK, DATABASE
from handlers.availability.hours import parse_working_hours
from handlers.availability.intervals import Interval
from handlers.availability.slots import Member, SlotQuery, all_free_slots, any_free_slots, profile_slots
from handlers.availability_index import DAY, Snapshot
from store.availability import calendar_health, save_working_hours

MINUTE: Final = 60


async def _snapshot(
    request: web.Request, session: AsyncSession, profile_id: str, lo: int, hi: int
) -> Snapshot:
    snap = await index_of(request.app).snapshot(session, profile_id, lo, hi, request.app[CLOCK].now())
    if not principal_of(request).can_see(snap.organization_id):
        raise NotFound(f"no profile {profile_id!r}")
    return snap


async def get_availability(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    lo, hi = window("start", query_required(request, "start"), "end", query_required(request, "end"))
    async with request.app[DATABASE].session() as session:
        snap = await _snapshot(request, session, profile_id, lo, hi)
        health = await calendar_health(session, profile_id, request.app[CLOCK].now())
    return json_response(
        {
            "profile": profile_id,
            "time_zone": snap.time_zone,
            "start": iso(lo),
            "end": iso(hi),
            "busy": [interval_json(i) for i in snap.busy.window(lo, hi)],
            "calendars": [
                {
                    "id": c.calendar_id,
                    "fresh_as_of": c.fresh_as_of.isoformat() if c.fresh_as_of else None,
                    "healthy": c.healthy,
                }
                for c in health
            ],
        }
    )


async def post_conflicts(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    body = await read_model(request, ConflictsIn)
    if body.slots is not None:
        if body.start is not None or body.end is not None:
            raise InvalidInput("slots", "send either start/end or slots, not both")
        wanted = [
            window(f"slots.{n}.start", s.start, f"slots.{n}.end", s.end) for n, s in enumerate(body.slots)
        ]
    elif body.start is None or body.end is None:
        raise InvalidInput("start" if body.start is None else "end", "is required (or send slots)")
    else:
        wanted = [window("start", body.start, "end", body.end)]
    lo, hi = min(s for s, _ in wanted), max(e for _, e in wanted)
    async with request.app[DATABASE].session() as session:
        snap = await _snapshot(request, session, profile_id, lo, hi)
    results = []
    for start, end in wanted:
        found = snap.conflicts(start, end)
        results.append(
            {**interval_json((start, end)), "free": not found, "conflicts": [interval_json(c) for c in found]}
        )
    return json_response({"results": results})


def _slot_query(request: web.Request) -> SlotQuery:
    lo, hi = window("start", query_required(request, "start"), "end", query_required(request, "end"))
    duration = query_int(request, "duration", 30, 5, 1440) * MINUTE
    step = query_int(request, "step", duration // MINUTE, 5, 1440) * MINUTE
    before = query_int(request, "buffer_before", 0, 0, 720) * MINUTE
    after = query_int(request, "buffer_after", 0, 0, 720) * MINUTE
    return SlotQuery(lo, hi, duration, step, before, after)


def _reach(query: SlotQuery) -> Interval:
    """Busy time that can matter: working windows are kept whole (up to a day out) plus buffers."""
    return query.start - DAY - query.buffer_before, query.end + DAY + query.buffer_after


async def get_slots(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    query = _slot_query(request)
    lo, hi = _reach(query)
    async with request.app[DATABASE].session() as session:
        snap = await _snapshot(request, session, profile_id, lo, hi)
    slots = profile_slots(query, snap.busy.window(lo, hi), snap.hours, snap.zone)
    return json_response(
        {"profile": profile_id, "time_zone": snap.time_zone, "slots": [interval_json(s) for s in slots]}
    )


def _hours_json(profile_id: str, snap: Snapshot) -> dict[str, object]:
    return {"profile": profile_id, "time_zone": snap.time_zone, "configured": snap.hours.configured}


async def put_working_hours(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    body = await read_model(request, WorkingHoursIn)
    hours = parse_working_hours(body.model_dump())
    now = request.app[CLOCK].now()
    async with request.app[DATABASE].session() as session:
        snap = await _snapshot(request, session, profile_id, 0, 1)  # existence and scope only
        await save_working_hours(session, profile_id, hours.to_json(), now)
    return json_response({**_hours_json(profile_id, snap), "configured": True, **hours.to_json()})


async def get_working_hours(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    async with request.app[DATABASE].session() as session:
        snap = await _snapshot(request, session, profile_id, 0, 1)
    return json_response({**_hours_json(profile_id, snap), **snap.hours.to_json()})


async def post_team(request: web.Request) -> web.Response:
    body = await read_model(request, TeamIn)
    lo, hi = window("start", body.start, "end", body.end)
    duration = body.duration * MINUTE
    query = SlotQuery(lo, hi, duration, (body.step or body.duration) * MINUTE, body.buffer_before * MINUTE,
                      body.buffer_after * MINUTE)  # fmt: skip
    reach = _reach(query)
    members: dict[str, Member] = {}
    async with request.app[DATABASE].session() as session:
        for n, profile_id in enumerate(dict.fromkeys(body.profiles)):
            try:
                snap = await _snapshot(request, session, profile_id, *reach)
            except NotFound:
                raise InvalidInput(f"profiles.{n}", f"unknown profile {profile_id!r}") from None
            members[profile_id] = Member(snap.busy.window(*reach), snap.hours, snap.zone)
    if body.mode == "all":
        everyone = sorted(members)
        slots = [
            {**interval_json(s), "profiles": everyone} for s in all_free_slots(query, list(members.values()))
        ]
    else:
        slots = [{**interval_json(s), "profiles": who} for s, who in any_free_slots(query, members)]
    return json_response({"mode": body.mode, "slots": slots})


_ID = id_param("id", "profile", 64)
_TAG = "availability"
_WHEN = {"type": "string", "format": "date-time"}
_WINDOW = (
    Param("start", "query", _WHEN, required=True, description="Window start (RFC 3339 with offset)."),
    Param(
        "end",
        "query",
        _WHEN,
        required=True,
        description="Window end, exclusive; at most 366 days after start.",
    ),
)


def _minutes(name: str, default: str, low: int, high: int, what: str) -> Param:
    schema = {"type": "integer", "minimum": low, "maximum": high}
    return Param(name, "query", schema, description=f"{what} in minutes ({low}-{high}; default {default}).")


ROUTES: Final = (
    Route(
        "GET", "/v1/profiles/{id}/availability", get_availability, "getAvailability",
        "Busy time of a profile in a window", _TAG,
        description="Merged busy intervals across all pull calendars and the profile's own non-cancelled "
        "appointments (recurrences expanded, occurrence overrides applied), clipped to the window; no "
        "details of foreign events. Per pull calendar: `fresh_as_of` (last successful sync) and `healthy`. "
        f"The window may span at most {MAX_WINDOW.days} days.",
        params=(_ID, *_WINDOW),
        replies={200: Reply("Busy intervals.", AvailabilityOut)},
        problems=(404, 422),
    ),
    Route(
        "POST", "/v1/profiles/{id}/conflicts", post_conflicts, "checkConflicts",
        "Is this time free?", _TAG,
        description="For `{start, end}` or each of `{slots: [...]}` (at most 500): `free`, or the busy "
        "intervals it overlaps. Read-only: to book without racing, PUT the appointment (409 on conflict).",
        params=(_ID,), body=ConflictsIn,
        replies={200: Reply("One result per slot, in request order.", ConflictsOut)},
        problems=(400, 404, 413, 415, 422),
    ),
    Route(
        "GET", "/v1/profiles/{id}/slots", get_slots, "getSlots",
        "Bookable slots of a profile", _TAG,
        description="Slots of `duration` minutes on a `step` grid anchored at each working-hours start, "
        "inside working hours (profile time zone, DST-aware) and the window, whose time widened by the "
        "buffers is free. Without configured working hours every day is open all day.",
        params=(
            _ID, *_WINDOW,
            _minutes("duration", "30", 5, 1440, "Slot length"),
            _minutes("step", "the duration", 5, 1440, "Distance between slot starts"),
            _minutes("buffer_before", "0", 0, 720, "Free time required before a slot"),
            _minutes("buffer_after", "0", 0, 720, "Free time required after a slot"),
        ),
        replies={200: Reply("Slots in time order.", SlotsOut)},
        problems=(404, 422),
    ),
    Route(
        "PUT", "/v1/profiles/{id}/working-hours", put_working_hours, "putWorkingHours",
        "Set a profile's working hours", _TAG,
        description="Replaces the weekly hours and date overrides (local times in the profile's time zone).",
        params=(_ID,), body=WorkingHoursIn,
        replies={200: Reply("The stored working hours.", WorkingHoursOut)},
        problems=(400, 404, 413, 415, 422),
    ),
    Route(
        "GET", "/v1/profiles/{id}/working-hours", get_working_hours, "getWorkingHours",
        "Read a profile's working hours", _TAG,
        params=(_ID,),
        replies={200: Reply("The hours (`configured: false`: never set, all open).", WorkingHoursOut)},
        problems=(404, 422),
    ),
    Route(
        "POST", "/v1/availability", post_team, "getTeamAvailability",
        "Slots for a team or round-robin page", _TAG,
        description="`mode: all`: slots where every listed profile works and is free. `mode: any`: slots "
        "where at least one is, naming who (round robin).",
        body=TeamIn,
        replies={200: Reply("Slots in time order.", TeamOut)},
        problems=(400, 413, 415, 422),
    ),
)  # fmt: skip
