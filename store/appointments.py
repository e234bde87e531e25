"""Appointments: the host app's bookings, upserted by the host's own id and never deleted.

Every effective change (create, content change, cancellation) bumps ``version``
and enqueues an envelope on ``calsync.appointments`` in the caller's
transaction, so the push worker and the host see exactly the committed state.
Writing identical content again changes nothing and enqueues nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.envelope import TOPIC_APPOINTMENTS, Envelope
from calsync.errors import NotFound
from store.outbox import enqueue
from store.tables import Appointment

APPOINTMENT_UPSERTED: Final = "appointment.upserted"
APPOINTMENT_CANCELLED: Final = "appointment.cancelled"
ENVELOPE_VERSION: Final = 1
CANCELLED_BY_HOST: Final = "cancelled_by_host"


@dataclass(frozen=True, slots=True)
class AppointmentFields:
    """Validated, normalized content of an appointment (what the host controls)."""

    profile_id: str
    organization_id: str
    start_utc: datetime
    end_utc: datetime
    time_zone: str
    all_day: bool = False
    start_date: str | None = None
    end_date: str | None = None
    title: str = ""
    description: str = ""
    location: str = ""
    client_name: str = ""
    client_email: str = ""
    rrule: str | None = None
    exdates: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)
    status: str = "confirmed"

    def columns(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "organization_id": self.organization_id,
            "start_utc": self.start_utc,
            "end_utc": self.end_utc,
            "all_day": self.all_day,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "time_zone": self.time_zone,
            "title": self.title,
            "description": self.description,
            "location": self.location,
            "client_name": self.client_name,
            "client_email": self.client_email,
            "rrule": self.rrule,
            "exdates": list(self.exdates),
            "extra": dict(self.extra),
            "status": self.status,
        }


class Outcome(Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _render_instant(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat()


def snapshot(appt: Appointment) -> dict[str, Any]:
    """The appointment as plain JSON values: the API response and the envelope data."""
    zone = _zone(appt.time_zone)
    if appt.all_day:
        start, end = appt.start_date or "", appt.end_date or ""
        exdates = list(appt.exdates)
    else:
        start, end = _render_instant(appt.start_utc, zone), _render_instant(appt.end_utc, zone)
        exdates = [_render_instant(datetime.fromisoformat(x), zone) for x in appt.exdates]
    return {
        "id": appt.id,
        "organization": appt.organization_id,
        "profile": appt.profile_id,
        "start": start,
        "end": end,
        "all_day": appt.all_day,
        "time_zone": appt.time_zone,
        "title": appt.title,
        "description": appt.description,
        "location": appt.location,
        "client": {"name": appt.client_name or None, "email": appt.client_email or None},
        "recurrence": {"rrule": appt.rrule, "exdates": exdates} if appt.rrule else None,
        "status": appt.status,
        "cancel_reason": appt.cancel_reason,
        "extra": dict(appt.extra),
        "version": appt.version,
        "sync_state": appt.sync_state,
        "sync_error": appt.sync_error,
        "created_at": appt.created_at.isoformat(),
        "updated_at": appt.updated_at.isoformat(),
    }


def _emit(session: AsyncSession, appt: Appointment, kind: str, now: datetime) -> None:
    data = snapshot(appt)
    if kind == APPOINTMENT_CANCELLED:
        data["reason"] = appt.cancel_reason
    envelope = Envelope(uuid.uuid4().hex, kind, ENVELOPE_VERSION, appt.id, now, data)
    enqueue(session, TOPIC_APPOINTMENTS, envelope, now)


async def load_for_write(session: AsyncSession, appointment_id: str, scope: str | None) -> Appointment | None:
    """The row locked for the rest of the transaction, None if absent; NotFound if outside ``scope``.

    PostgreSQL locks the row with SELECT ... FOR UPDATE. SQLite ignores FOR UPDATE,
    so a no-op UPDATE first takes the database's write lock: without it two writers
    could both read version n and both write version n+1.
    """
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        await session.exec(
            update(Appointment).where(col(Appointment.id) == appointment_id).values(id=appointment_id)
        )
    appt = await session.get(Appointment, appointment_id, with_for_update=True, populate_existing=True)
    if appt is not None and scope is not None and appt.organization_id != scope:
        raise NotFound(f"no appointment {appointment_id!r}")
    return appt


async def get_appointment(
    session: AsyncSession, appointment_id: str, scope: str | None = None
) -> Appointment:
    appt = await session.get(Appointment, appointment_id)
    if appt is None or (scope is not None and appt.organization_id != scope):
        raise NotFound(f"no appointment {appointment_id!r}")
    return appt


async def upsert_appointment(
    session: AsyncSession,
    appointment_id: str,
    existing: Appointment | None,
    fields: AppointmentFields,
    now: datetime,
) -> tuple[Appointment, Outcome]:
    """Create or replace the content of ``existing`` (from ``load_for_write``), idempotently."""
    columns = fields.columns()
    if existing is None:
        appt = Appointment(id=appointment_id, version=1, created_at=now, updated_at=now, **columns)
        if fields.status == "cancelled":
            appt.cancel_reason = CANCELLED_BY_HOST
        session.add(appt)
        await session.flush()
        _emit(session, appt, APPOINTMENT_UPSERTED, now)
        return appt, Outcome.CREATED
    if all(getattr(existing, name) == value for name, value in columns.items()):
        return existing, Outcome.UNCHANGED
    was_cancelled = existing.status == "cancelled"
    for name, value in columns.items():
        setattr(existing, name, value)
    if fields.status != "cancelled":
        existing.cancel_reason = None
    elif not was_cancelled:
        existing.cancel_reason = CANCELLED_BY_HOST
    _bump(existing, now)
    session.add(existing)
    await session.flush()
    becomes_cancelled = fields.status == "cancelled" and not was_cancelled
    _emit(session, existing, APPOINTMENT_CANCELLED if becomes_cancelled else APPOINTMENT_UPSERTED, now)
    return existing, Outcome.UPDATED


def _bump(appt: Appointment, now: datetime) -> None:
    appt.version += 1
    appt.updated_at = now
    # New content has not reached the calendars yet; the push worker sets it back to synced.
    appt.sync_state = "pending"
    appt.sync_error = None


async def cancel_appointment(session: AsyncSession, appt: Appointment, reason: str, now: datetime) -> bool:
    """Cancel once: True if this call cancelled it, False if it already was (nothing written)."""
    if appt.status == "cancelled":
        return False
    appt.status = "cancelled"
    appt.cancel_reason = reason
    _bump(appt, now)
    session.add(appt)
    await session.flush()
    _emit(session, appt, APPOINTMENT_CANCELLED, now)
    return True


OccursIn = Callable[[Appointment, datetime, datetime], bool]


async def list_appointments(
    session: AsyncSession,
    *,
    profile_id: str,
    start: datetime,
    end: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
    occurs_in: OccursIn,
) -> tuple[list[Appointment], bool]:
    """Appointments of one profile overlapping ``[start, end)``, ordered by (start_utc, id).

    Single appointments are selected by SQL. A recurring series is a candidate when
    its first start is before ``end``; ``occurs_in`` (pure, supplied by the caller,
    who owns recurrence rules) decides whether an occurrence really overlaps.
    Returns up to ``limit`` rows and whether more follow.
    """
    window = or_(
        and_(col(Appointment.rrule).is_(None), col(Appointment.end_utc) > start),
        col(Appointment.rrule).is_not(None),
    )
    base = select(Appointment).where(
        Appointment.profile_id == profile_id, col(Appointment.start_utc) < end, window
    )
    found: list[Appointment] = []
    position = after
    while True:
        query = base
        if position is not None:
            at, last_id = position
            query = query.where(
                or_(
                    col(Appointment.start_utc) > at,
                    and_(col(Appointment.start_utc) == at, col(Appointment.id) > last_id),
                )
            )
        batch: Sequence[Appointment] = (
            await session.exec(
                query.order_by(col(Appointment.start_utc), col(Appointment.id)).limit(limit + 1)
            )
        ).all()
        for appt in batch:
            if appt.rrule is None or occurs_in(appt, start, end):
                found.append(appt)
                if len(found) > limit:
                    return found[:limit], True
        if len(batch) <= limit:
            return found, False
        position = (batch[-1].start_utc, batch[-1].id)


def cursor_key(appt: Appointment) -> tuple[datetime, str]:
    """The keyset position just after ``appt`` in ``list_appointments`` order."""
    return appt.start_utc.astimezone(UTC), appt.id
