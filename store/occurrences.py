"""Occurrence overrides: one occurrence of a recurring appointment moved or cancelled on its own.

Each effective change bumps the appointment's version and enqueues
``appointment.occurrence_changed`` / ``appointment.occurrence_cancelled`` on
``calsync.appointments`` in the caller's transaction, exactly like the whole-appointment
writes in ``store.appointments``. Repeating a change writes nothing and enqueues nothing.

``original_start`` (UTC) names the occurrence within its series and never changes,
even after the occurrence moved; ``instance_key`` renders it the way event markers do.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.envelope import TOPIC_APPOINTMENTS, Envelope
from store.appointments import ENVELOPE_VERSION, _bump
from store.outbox import enqueue
from store.tables import Appointment, AppointmentOccurrence

OCCURRENCE_CHANGED: Final = "appointment.occurrence_changed"
OCCURRENCE_CANCELLED: Final = "appointment.occurrence_cancelled"
CHANGED_BY_HOST: Final = "changed_by_host"
INSTANCE_KEY_FORMAT: Final = "%Y%m%dT%H%M%SZ"  # as channels.model.ExternalEvent.instance_key


def instance_key(original_start: datetime) -> str:
    """The marker/link key of an occurrence: its original start in UTC, ``YYYYMMDDTHHMMSSZ``."""
    return original_start.astimezone(UTC).strftime(INSTANCE_KEY_FORMAT)


def _emit(
    session: AsyncSession, appt: Appointment, kind: str, original_start: datetime, reason: str, now: datetime
) -> None:
    data = {
        "id": appt.id,
        "original_start": original_start.astimezone(UTC).isoformat(),
        "version": appt.version,
        "reason": reason,
    }
    envelope = Envelope(uuid.uuid4().hex, kind, ENVELOPE_VERSION, appt.id, now, data)
    enqueue(session, TOPIC_APPOINTMENTS, envelope, now)


async def get_overrides(session: AsyncSession, appointment_id: str) -> list[AppointmentOccurrence]:
    """Every override of the appointment, ordered by original start."""
    found = await session.exec(
        select(AppointmentOccurrence)
        .where(AppointmentOccurrence.appointment_id == appointment_id)
        .order_by(col(AppointmentOccurrence.original_start))
    )
    return list(found.all())


async def get_override(
    session: AsyncSession, appointment_id: str, original_start: datetime
) -> AppointmentOccurrence | None:
    found = await session.exec(
        select(AppointmentOccurrence).where(
            AppointmentOccurrence.appointment_id == appointment_id,
            AppointmentOccurrence.original_start == original_start.astimezone(UTC),
        )
    )
    return found.first()


async def move_occurrence(
    session: AsyncSession,
    appt: Appointment,
    original_start: datetime,
    start: datetime,
    end: datetime,
    now: datetime,
    reason: str = CHANGED_BY_HOST,
) -> AppointmentOccurrence:
    """Give one occurrence its own times (and reinstate it if it was cancelled); idempotent.

    ``appt`` must come from ``store.appointments.load_for_write`` (locked), and the caller
    checks that ``original_start`` is an occurrence of the series.
    """
    override = await get_override(session, appt.id, original_start)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if (
        override is not None
        and override.status == "confirmed"
        and override.start_utc == start
        and override.end_utc == end
    ):
        return override
    _bump(appt, now)
    session.add(appt)
    if override is None:
        override = AppointmentOccurrence(
            appointment_id=appt.id, original_start=original_start.astimezone(UTC)
        )
    override.start_utc, override.end_utc = start, end
    override.status, override.cancel_reason = "confirmed", None
    override.version, override.updated_at = appt.version, now
    session.add(override)
    await session.flush()
    _emit(session, appt, OCCURRENCE_CHANGED, original_start, reason, now)
    return override


async def cancel_occurrence(
    session: AsyncSession, appt: Appointment, original_start: datetime, reason: str, now: datetime
) -> bool:
    """Cancel one occurrence only: True if this call cancelled it, False if it already was.

    Bumps the appointment's version and emits ``appointment.occurrence_cancelled`` with
    ``reason``. A cancelled occurrence keeps its last times (where it was when cancelled).
    ``appt`` should be locked (``load_for_write``) so concurrent writers get distinct versions.
    """
    override = await get_override(session, appt.id, original_start)
    if override is not None and override.status == "cancelled":
        return False
    _bump(appt, now)
    session.add(appt)
    if override is None:
        utc = original_start.astimezone(UTC)
        override = AppointmentOccurrence(
            appointment_id=appt.id,
            original_start=utc,
            start_utc=utc,
            end_utc=utc + (appt.end_utc - appt.start_utc),
        )
    override.status, override.cancel_reason = "cancelled", reason
    override.version, override.updated_at = appt.version, now
    session.add(override)
    await session.flush()
    _emit(session, appt, OCCURRENCE_CANCELLED, original_start, reason, now)
    return True


def override_snapshot(override: AppointmentOccurrence) -> dict[str, object]:
    """The override as plain JSON values (API responses)."""
    return {
        "appointment": override.appointment_id,
        "original_start": override.original_start.isoformat(),
        "start": override.start_utc.isoformat(),
        "end": override.end_utc.isoformat(),
        "status": override.status,
        "cancel_reason": override.cancel_reason,
        "version": override.version,
    }
