"""Loading the facts ``reconcile_rules.decide`` needs, inside the reconciler's transaction.

The linked (or marked) appointment is loaded with ``load_for_write``: it is locked for
the rest of the transaction, so a concurrent API write or another calendar's change
cannot interleave between the decision and its application.

For a tombstone of one of our events on its own profile's calendar, the push calendars of
the organization's other profiles are the move candidates (``store/move_candidates.py``)
— only for providers whose move keeps the event id, so a direct GET there can find it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from channels.model import ExternalEvent, Provider
from handlers.profile_settings import ProfileSettings
from handlers.reconcile_rules import AppointmentFacts, CalendarFacts, Facts, LinkFacts, instance_key
from store import calendars, event_links, move_candidates, occurrences
from store.appointments import load_for_write
from store.tables import Appointment, EventLink, Profile

log = structlog.get_logger("calsync.reconcile")

# Providers whose "move to another calendar" keeps the event id (Google's events.move); Graph
# gives a moved event a new id, so a look by id elsewhere could never find it.
MOVE_KEEPS_ID: Final = frozenset({Provider.GOOGLE})
# At most this many calendars are looked at per tombstone (GETs run concurrently, per-account
# throttled); a larger organization is logged, and a move beyond them is taken for a deletion.
MAX_MOVE_CANDIDATES: Final = 100


def _link(link: EventLink | None) -> LinkFacts | None:
    if link is None or link.id is None:
        return None
    return LinkFacts(
        link.id, link.appointment_id, link.calendar_id, link.instance_key, link.etag, link.written_version,
        link.state,
    )  # fmt: skip


def _exdate_key(value: str) -> str:
    """An appointment exdate (UTC ISO instant, or a date for all-day series) as an instance key."""
    if len(value) == 10:
        return instance_key(datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC))
    return instance_key(datetime.fromisoformat(value))


async def _appointment(session: AsyncSession, appt: Appointment) -> AppointmentFacts:
    cancelled = {_exdate_key(x) for x in appt.exdates}
    moved: dict[str, tuple[datetime, datetime]] = {}
    if appt.rrule:
        for override in await occurrences.get_overrides(session, appt.id):
            key = instance_key(override.original_start)
            if override.status == "cancelled":
                cancelled.add(key)
            else:
                moved[key] = (override.start_utc, override.end_utc)
    return AppointmentFacts(
        id=appt.id,
        version=appt.version,
        status=appt.status,
        profile_id=appt.profile_id,
        organization_id=appt.organization_id,
        start=appt.start_utc,
        end=appt.end_utc,
        all_day=appt.all_day,
        start_date=appt.start_date,
        end_date=appt.end_date,
        recurring=appt.rrule is not None,
        cancelled_keys=frozenset(cancelled),
        moved_occurrences=moved,
    )


async def _move_candidates(session: AsyncSession, event: ExternalEvent, appt: Appointment) -> tuple[str, ...]:
    found = await move_candidates.other_push_calendars(
        session, organization_id=appt.organization_id, profile_id=appt.profile_id,
        provider=event.provider.value, limit=MAX_MOVE_CANDIDATES + 1,
    )  # fmt: skip
    if len(found) > MAX_MOVE_CANDIDATES:
        log.warning(
            "move_candidates_truncated", organization_id=appt.organization_id, limit=MAX_MOVE_CANDIDATES
        )
    return tuple(found[:MAX_MOVE_CANDIDATES])


async def load_facts(session: AsyncSession, event: ExternalEvent, gone: bool | None) -> Facts | None:
    """None when the calendar is unknown (removed since the change was published)."""
    calendar = await calendars.get_calendar(session, event.calendar_id)
    if calendar is None:
        return None
    owner = await session.get(Profile, calendar.profile_id)
    if owner is None:
        return None
    link = await event_links.link_for_event(session, calendar.id, event.event_id)
    series_link = None
    if link is None and event.series_id is not None:
        series_link = await event_links.link_for_event(session, calendar.id, event.series_id)
    known = link or series_link
    appointment_id = (
        known.appointment_id if known else (event.marker.appointment_id if event.marker else None)
    )
    appt = await load_for_write(session, appointment_id, None) if appointment_id else None
    settings_owner = owner
    if appt is not None and appt.profile_id != owner.id:
        settings_owner = await session.get(Profile, appt.profile_id) or owner
    candidates: tuple[str, ...] = ()
    if (
        known is not None and appt is not None and appt.profile_id == owner.id
        and appt.status != "cancelled" and event.is_tombstone and event.provider in MOVE_KEEPS_ID
    ):  # fmt: skip
        candidates = await _move_candidates(session, event, appt)
    return Facts(
        calendar=CalendarFacts(calendar.id, calendar.role, calendar.profile_id, owner.organization_id),
        settings=ProfileSettings.from_stored(settings_owner.settings),
        link=_link(link),
        series_link=_link(series_link),
        appointment=await _appointment(session, appt) if appt is not None else None,
        move_candidates=candidates,
        gone=gone,
    )
