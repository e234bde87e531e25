"""Event links (appointment or occurrence <-> the external event we wrote) and push outcomes.

The push worker records a link after every successful write, in its own short
transaction: the external event id, the etag the provider returned (the reconciler's
echo check) and ``written_version``, the appointment version that write carried.
``state``: ``live`` (exists as we wrote it), ``deleted`` (we deleted it, or it went with
its series), ``unknown`` (the provider said it is gone; the reconciler decides).

The appointment's ``sync_state`` (pending -> synced | error) is set here too, and only
for the version the worker planned from: a newer version stays pending for its own push.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import Appointment, Calendar, EventLink

_ERROR_CAP: Final = 2000
# A sync_error starting with this is not retried by the periodic pass: a person or the
# reconciler has to act first (the external event vanished, consent was revoked).
PARKED_PREFIX: Final = "parked: "


async def links_for(session: AsyncSession, appointment_id: str) -> list[EventLink]:
    found = await session.exec(
        select(EventLink).where(EventLink.appointment_id == appointment_id).order_by(col(EventLink.id))
    )
    return list(found.all())


async def link_for_event(session: AsyncSession, calendar_id: str, external_event_id: str) -> EventLink | None:
    """The link of one external event (the reconciler's lookup for events carrying no marker)."""
    found = await session.exec(
        select(EventLink).where(
            EventLink.calendar_id == calendar_id, EventLink.external_event_id == external_event_id
        )
    )
    return found.first()


async def record_written(
    session: AsyncSession,
    *,
    appointment_id: str,
    calendar_id: str,
    instance_key: str,
    external_event_id: str,
    etag: str | None,
    version: int,
    now: datetime,
    state: str = "live",
) -> EventLink:
    """Upsert the link after a successful write: this event, this etag, this version.

    ``state`` is ``deleted`` for an occurrence we cancelled, ``unknown`` for one the
    provider no longer knows. ``unknown`` never overwrites ``deleted``: the reconciler has
    settled that deletion already, and a later re-booking must create the event again.
    """
    found = await session.exec(
        select(EventLink)
        .where(
            EventLink.appointment_id == appointment_id,
            EventLink.calendar_id == calendar_id,
            EventLink.instance_key == instance_key,
        )
        .with_for_update()
    )
    existing = found.first()
    if existing is not None and state == "unknown" and existing.state == "deleted":
        return existing
    link = existing or EventLink(
        appointment_id=appointment_id,
        calendar_id=calendar_id,
        instance_key=instance_key,
        external_event_id=external_event_id,
    )
    link.external_event_id, link.etag = external_event_id, etag
    link.written_version, link.state, link.updated_at = version, state, now
    session.add(link)
    await session.flush()
    return link


async def set_link_state(
    session: AsyncSession,
    *,
    appointment_id: str,
    calendar_id: str,
    instance_keys: Sequence[str],
    state: str,
    version: int,
    now: datetime,
) -> None:
    """Mark links ``deleted`` or ``unknown`` (several at once: a series and its instances)."""
    await session.exec(
        update(EventLink)
        .where(
            col(EventLink.appointment_id) == appointment_id,
            col(EventLink.calendar_id) == calendar_id,
            col(EventLink.instance_key).in_(list(instance_keys)),
        )
        .values(state=state, written_version=version, updated_at=now)
    )


async def advance_link(
    session: AsyncSession, *, appointment_id: str, calendar_id: str, version: int, now: datetime
) -> None:
    """Record that the series event already shows ``version`` (only occurrences changed since)."""
    await session.exec(
        update(EventLink)
        .where(
            col(EventLink.appointment_id) == appointment_id,
            col(EventLink.calendar_id) == calendar_id,
            col(EventLink.instance_key) == "",
            col(EventLink.written_version) < version,
        )
        .values(written_version=version, updated_at=now)
    )


async def push_calendar(session: AsyncSession, profile_id: str) -> Calendar | None:
    """The profile's current push calendar (active, role push); the oldest one if several."""
    found = await session.exec(
        select(Calendar)
        .where(Calendar.profile_id == profile_id, Calendar.role == "push", Calendar.state == "active")
        .order_by(col(Calendar.created_at), col(Calendar.id))
    )
    return found.first()


async def set_sync_state(
    session: AsyncSession, appointment_id: str, version: int, state: str, error: str | None
) -> bool:
    """Set ``sync_state`` if the appointment is still at ``version``; False if it moved on."""
    result = await session.exec(
        update(Appointment)
        .where(col(Appointment.id) == appointment_id, col(Appointment.version) == version)
        .values(sync_state=state, sync_error=error[:_ERROR_CAP] if error else None)
    )
    return bool(result.rowcount)


async def due_for_retry(session: AsyncSession, now: datetime, older_than: timedelta, limit: int) -> list[str]:
    """Appointments whose push failed or is still pending after ``older_than``, oldest first.

    Parked errors (see ``PARKED_PREFIX``) wait for someone else to act and are left out.
    """
    found = await session.exec(
        select(Appointment.id)
        .where(
            col(Appointment.sync_state).in_(("error", "pending")),
            col(Appointment.updated_at) < now - older_than,
            ~col(Appointment.sync_error).startswith(PARKED_PREFIX) | col(Appointment.sync_error).is_(None),
        )
        .order_by(col(Appointment.updated_at))
        .limit(limit)
    )
    return list(found.all())
