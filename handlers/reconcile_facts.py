"""Loading the facts ``reconcile_rules.decide`` needs, inside the reconciler's transaction.

The linked (or marked) appointment is loaded with ``load_for_write``: it is locked for
the rest of the transaction, so a concurrent API write or another calendar's change
cannot interleave between the decision and its application.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from channels.model import ExternalEvent
from handlers.profile_settings import ProfileSettings
from handlers.reconcile_rules import AppointmentFacts, CalendarFacts, Facts, LinkFacts, instance_key
from store import calendars, event_links, occurrences
from store.appointments import load_for_write
from store.tables import Appointment, EventLink, Profile


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
    return Facts(
        calendar=CalendarFacts(calendar.id, calendar.role, calendar.profile_id, owner.organization_id),
        settings=ProfileSettings.from_stored(settings_owner.settings),
        link=_link(link),
        series_link=_link(series_link),
        appointment=await _appointment(session, appt) if appt is not None else None,
        gone=gone,
    )
