"""Availability queries: what makes a profile busy, a cheap change fingerprint, calendar health.

Reads use SQLAlchemy Core (plain tuples, no ORM identity map): the index reloads a
profile's few thousand rows after a change, and ORM objects would triple that cost.
Results are plain frozen records, so ``handlers/`` never sees a table class.

Only busy blocks of calendars with the ``pull`` role that are not ``removed`` count;
a calendar in ``error`` keeps blocking with its last known data (stale busy time is
safer than none) and reports ``healthy: false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Executable, bindparam, func, select, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import (
    Appointment,
    AppointmentOccurrence,
    BusyBlock,
    Calendar,
    Channel,
    Profile,
    ProviderAccount,
)

BLOCKING_CALENDAR_STATES = ("active", "error")


@dataclass(frozen=True, slots=True)
class BlockRow:
    id: int
    calendar_id: str
    start_utc: datetime
    end_utc: datetime
    all_day: bool
    tentative: bool
    rrule: str | None
    exdates: tuple[str, ...]
    time_zone: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AppointmentRow:
    id: str
    start_utc: datetime
    end_utc: datetime
    all_day: bool
    start_date: str | None
    end_date: str | None
    time_zone: str
    rrule: str | None
    exdates: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OverrideRow:
    appointment_id: str
    original_start: datetime
    start_utc: datetime
    end_utc: datetime
    cancelled: bool


@dataclass(frozen=True, slots=True)
class CalendarHealth:
    calendar_id: str
    fresh_as_of: datetime | None
    healthy: bool


async def _run(session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None) -> Any:
    """Core statements on the session's connection (same transaction, plain rows, no ORM); a Result."""
    connection = await session.connection()
    return await connection.execute(statement, params)


def _blocking_calendars(profile_id: str) -> Any:
    return select(col(Calendar.id)).where(
        col(Calendar.profile_id) == profile_id,
        col(Calendar.role) == "pull",
        col(Calendar.state).in_(BLOCKING_CALENDAR_STATES),
    )


def _stats(table: Any, *where: Any, join: Any = None, version: bool = False) -> list[Any]:
    aggregates = [func.count(), func.max(table.updated_at)]
    if version:
        # Versions only grow, so their sum changes with every write, even within one clock tick.
        aggregates.append(func.coalesce(func.sum(table.version), 0))
    out = []
    for aggregate in aggregates:
        query = select(aggregate).select_from(table)
        if join is not None:
            query = query.join(*join)
        out.append(query.where(*where).scalar_subquery())
    return out


@cache
def _fingerprint_statement() -> Any:
    """Built once: constructing this nine-subquery statement cost more than running it."""
    profile_id: Any = bindparam("profile_id")
    owned = col(Appointment.profile_id) == profile_id
    on_appt = (Appointment, col(Appointment.id) == col(AppointmentOccurrence.appointment_id))
    return select(
        *_stats(BusyBlock, col(BusyBlock.profile_id) == profile_id),
        *_stats(Appointment, owned, version=True),
        *_stats(AppointmentOccurrence, owned, join=on_appt, version=True),
        *_stats(Calendar, col(Calendar.profile_id) == profile_id),
        select(col(Profile.updated_at))
        .where(col(Profile.id) == profile_id, col(Profile.deleted_at).is_(None))
        .scalar_subquery(),
    )


async def fingerprint(session: AsyncSession, profile_id: str) -> tuple[Any, ...] | None:
    """A value that changes whenever anything the profile's busy time depends on changes.

    Per table: (row count, max updated_at). Every writer sets ``updated_at = now`` on the
    rows it touches, so an insert or update raises the max and a delete lowers the count.
    Appointments and overrides also contribute the sum of their versions, which every write
    bumps, so even two writes within one clock tick are told apart.
    Calendar rows are included (role/state changes; ``updated_at`` also moves on every
    sync pass), and the profile row (time zone, settings). None: no such live profile.
    """

    row = (await _run(session, _fingerprint_statement(), {"profile_id": profile_id})).one()
    if row[-1] is None:
        return None
    return tuple(str(v) for v in row)


async def load_blocks(session: AsyncSession, profile_id: str) -> list[BlockRow]:
    found = await _run(
        session,
        select(
            col(BusyBlock.id),
            col(BusyBlock.calendar_id),
            col(BusyBlock.start_utc),
            col(BusyBlock.end_utc),
            col(BusyBlock.all_day),
            col(BusyBlock.tentative),
            col(BusyBlock.rrule),
            col(BusyBlock.exdates),
            col(BusyBlock.time_zone),
            col(BusyBlock.updated_at),
        ).where(
            col(BusyBlock.profile_id) == profile_id,
            col(BusyBlock.calendar_id).in_(_blocking_calendars(profile_id)),
            col(BusyBlock.end_utc) > col(BusyBlock.start_utc),  # placeholders block nothing
        ),
    )
    return [BlockRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(r[7] or ()), r[8], r[9]) for r in found]


async def load_appointments(
    session: AsyncSession, profile_id: str
) -> tuple[list[AppointmentRow], list[OverrideRow]]:
    """Non-cancelled appointments of the profile and the overrides of its series."""
    found = await _run(
        session,
        select(
            col(Appointment.id),
            col(Appointment.start_utc),
            col(Appointment.end_utc),
            col(Appointment.all_day),
            col(Appointment.start_date),
            col(Appointment.end_date),
            col(Appointment.time_zone),
            col(Appointment.rrule),
            col(Appointment.exdates),
            col(Appointment.updated_at),
        ).where(col(Appointment.profile_id) == profile_id, col(Appointment.status) != "cancelled"),
    )
    appts = [
        AppointmentRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], tuple(r[8] or ()), r[9]) for r in found
    ]
    series = [a.id for a in appts if a.rrule]
    if not series:
        return appts, []
    rows = await _run(
        session,
        select(
            col(AppointmentOccurrence.appointment_id),
            col(AppointmentOccurrence.original_start),
            col(AppointmentOccurrence.start_utc),
            col(AppointmentOccurrence.end_utc),
            col(AppointmentOccurrence.status),
        )
        .join(Appointment, col(Appointment.id) == col(AppointmentOccurrence.appointment_id))
        .where(col(Appointment.profile_id) == profile_id, col(Appointment.status) != "cancelled"),
    )
    return appts, [OverrideRow(r[0], r[1], r[2], r[3], r[4] == "cancelled") for r in rows]


async def profile_basics(
    session: AsyncSession, profile_id: str
) -> tuple[str, str, dict[str, Any], dict[str, Any]] | None:
    """(organization, time zone, settings, working hours) of a live profile; None if absent."""
    row = (
        await _run(
            session,
            select(
                col(Profile.organization_id),
                col(Profile.time_zone),
                col(Profile.settings),
                col(Profile.working_hours),
            ).where(col(Profile.id) == profile_id, col(Profile.deleted_at).is_(None)),
        )
    ).first()
    if row is None:
        return None
    return row[0], row[1], dict(row[2] or {}), dict(row[3] or {})


async def calendar_health(session: AsyncSession, profile_id: str, now: datetime) -> list[CalendarHealth]:
    """Per pull calendar: last successful sync and whether push still reaches us.

    Healthy = the calendar and its account are not in error and a channel is active and
    not expired: otherwise changes arrive only with the periodic safety resync.
    """
    cals = (
        await _run(
            session,
            select(
                col(Calendar.id),
                col(Calendar.last_synced_at),
                col(Calendar.state),
                col(ProviderAccount.state),
            )
            .join(ProviderAccount, col(ProviderAccount.id) == col(Calendar.account_id))
            .where(
                col(Calendar.profile_id) == profile_id,
                col(Calendar.role) == "pull",
                col(Calendar.state).in_(BLOCKING_CALENDAR_STATES),
            )
            .order_by(col(Calendar.id)),
        )
    ).all()
    if not cals:
        return []
    live = set(
        (
            await _run(
                session,
                select(col(Channel.calendar_id)).where(
                    col(Channel.calendar_id).in_([c[0] for c in cals]),
                    col(Channel.state) == "active",
                    col(Channel.expires_at) > now,
                ),
            )
        ).scalars()
    )
    return [CalendarHealth(c[0], c[1], c[2] == "active" and c[3] == "active" and c[0] in live) for c in cals]


async def lock_profile(session: AsyncSession, profile_id: str) -> None:
    """Serialize booking writes of one profile until the transaction ends.

    PostgreSQL: a row lock on the profile (SELECT ... FOR UPDATE), so a second booking's
    conflict check waits for the first booking's commit and then sees it. SQLite ignores
    FOR UPDATE; there a no-op UPDATE takes the database write lock (one writer at a time).
    """
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        await _run(session, update(Profile).where(col(Profile.id) == profile_id).values(id=profile_id))
    else:
        await _run(session, select(col(Profile.id)).where(col(Profile.id) == profile_id).with_for_update())


async def save_working_hours(
    session: AsyncSession, profile_id: str, hours: dict[str, Any], now: datetime
) -> None:
    await _run(
        session,
        update(Profile).where(col(Profile.id) == profile_id).values(working_hours=hours, updated_at=now),
    )
