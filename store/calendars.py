"""Calendars we sync: provider cursor, last successful sync, visible error state.

``last_synced_at`` is the instant the last *successful* sync pass **began**: every
change a provider notified before that instant is covered by it. The sync
consumer relies on exactly this to drop stale signals (coalescing).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import NotFound
from store.tables import Calendar

_ERROR_CAP = 2000


async def upsert_calendar(
    session: AsyncSession,
    *,
    account_id: str,
    profile_id: str,
    external_id: str,
    name: str,
    role: str,
    now: datetime,
) -> Calendar:
    """Create the calendar or update its name/role; keyed by (account, provider id)."""
    found = await session.exec(
        select(Calendar).where(Calendar.account_id == account_id, Calendar.external_id == external_id)
    )
    calendar = found.first()
    if calendar is None:
        calendar = Calendar(
            id=uuid.uuid4().hex,
            account_id=account_id,
            profile_id=profile_id,
            external_id=external_id,
            name=name,
            role=role,
            created_at=now,
            updated_at=now,
        )
    else:
        calendar.name, calendar.role, calendar.updated_at = name, role, now
        if calendar.state == "removed":
            calendar.state = "active"
    session.add(calendar)
    await session.flush()
    return calendar


async def get_calendar(session: AsyncSession, calendar_id: str) -> Calendar | None:
    return await session.get(Calendar, calendar_id)


async def _require(session: AsyncSession, calendar_id: str) -> Calendar:
    calendar = await session.get(Calendar, calendar_id, with_for_update=True)
    if calendar is None:
        raise NotFound(f"no calendar {calendar_id!r}")
    return calendar


async def save_sync_result(
    session: AsyncSession,
    calendar_id: str,
    *,
    cursor: str | None,
    synced_at: datetime | None,
    error: str | None,
    now: datetime,
) -> None:
    """Record one sync pass.

    Success (``error`` None): store the new cursor and ``synced_at`` (when the pass began) and
    clear any error. Failure: keep the old cursor and sync time, record the error.
    """
    calendar = await _require(session, calendar_id)
    if error is None:
        calendar.sync_cursor = cursor
        if synced_at is not None:
            calendar.last_synced_at = synced_at
        calendar.last_error = None
        if calendar.state == "error":
            calendar.state = "active"
    else:
        calendar.last_error = error[:_ERROR_CAP]
    calendar.updated_at = now
    session.add(calendar)


async def mark_calendar_error(session: AsyncSession, calendar_id: str, error: str, now: datetime) -> None:
    """A permanent failure (calendar gone, access lost): visible, and no longer synced or watched."""
    calendar = await _require(session, calendar_id)
    calendar.state = "error"
    calendar.last_error = error[:_ERROR_CAP]
    calendar.updated_at = now
    session.add(calendar)


async def clear_cursor(session: AsyncSession, calendar_id: str, now: datetime) -> None:
    """Forget the cursor (a 410 / dead delta link): the next pass is a full sync."""
    calendar = await _require(session, calendar_id)
    calendar.sync_cursor = None
    calendar.updated_at = now
    session.add(calendar)


async def synced_calendars(session: AsyncSession) -> list[Calendar]:
    """Calendars that should be synced and watched: active, with a push or pull role."""
    found = await session.exec(
        select(Calendar)
        .where(Calendar.state == "active", col(Calendar.role).in_(("push", "pull")))
        .order_by(col(Calendar.id))
    )
    return list(found.all())
