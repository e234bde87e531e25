"""Push channels (Google watch channels, Graph subscriptions) and their visible health.

States: ``active`` (current), ``error`` (still live but its renewal keeps failing: see
``consecutive_failures`` / ``last_error``), ``retiring`` (superseded by a newer channel or
an orphan we never owned: stop it at the provider once ``retry_at`` has passed) and
``stopped``. ``retry_at`` is the earliest next attempt (backoff after a failure, or the end
of the renewal overlap for a retiring channel).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import NotFound
from store.tables import Channel

_ERROR_CAP = 2000
LIVE_STATES = ("active", "error")


async def add_channel(
    session: AsyncSession,
    *,
    calendar_id: str,
    provider: str,
    external_id: str,
    resource_id: str | None,
    secret_hash: str,
    expires_at: datetime,
    now: datetime,
    state: str = "active",
) -> Channel:
    channel = Channel(
        id=uuid.uuid4().hex,
        calendar_id=calendar_id,
        provider=provider,
        external_id=external_id,
        resource_id=resource_id,
        token_hash=secret_hash,
        state=state,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(channel)
    await session.flush()
    return channel


async def find_channel(session: AsyncSession, provider: str, external_id: str) -> Channel | None:
    found = await session.exec(
        select(Channel).where(Channel.provider == provider, Channel.external_id == external_id)
    )
    return found.first()


async def get_channel(session: AsyncSession, channel_id: str) -> Channel | None:
    return await session.get(Channel, channel_id)


async def channels_for_calendar(session: AsyncSession, calendar_id: str) -> list[Channel]:
    found = await session.exec(
        select(Channel).where(Channel.calendar_id == calendar_id).order_by(col(Channel.created_at))
    )
    return list(found.all())


async def calendar_for_resource(session: AsyncSession, provider: str, resource_id: str) -> str | None:
    """The calendar one of our channels watches under this provider resource id, if any."""
    found = await session.exec(
        select(Channel.calendar_id)
        .where(Channel.provider == provider, Channel.resource_id == resource_id)
        .limit(1)
    )
    return found.first()


async def _require(session: AsyncSession, channel_id: str) -> Channel:
    channel = await session.get(Channel, channel_id, with_for_update=True)
    if channel is None:
        raise NotFound(f"no channel {channel_id!r}")
    return channel


async def mark_notified(session: AsyncSession, channel_ids: Collection[str], now: datetime) -> None:
    """One UPDATE for the channels a webhook batch heard from (no read: the rows need not be loaded)."""
    if channel_ids:
        await session.exec(
            update(Channel).where(col(Channel.id).in_(sorted(channel_ids))).values(last_notification_at=now)
        )


async def mark_renewed(
    session: AsyncSession, channel_id: str, *, expires_at: datetime, now: datetime
) -> None:
    """The channel's lifetime was extended (Graph PATCH): healthy again."""
    channel = await _require(session, channel_id)
    channel.expires_at = expires_at
    channel.last_renewed_at = now
    channel.state = "active"
    channel.consecutive_failures = 0
    channel.last_error = None
    channel.retry_at = None
    session.add(channel)


async def retire_channel(session: AsyncSession, channel_id: str, *, stop_at: datetime, now: datetime) -> None:
    """A newer channel replaced this one (Google renewal): keep it until ``stop_at``, then stop it."""
    channel = await _require(session, channel_id)
    channel.state = "retiring"
    channel.last_renewed_at = now
    channel.consecutive_failures = 0
    channel.last_error = None
    channel.retry_at = stop_at
    session.add(channel)


async def mark_stopped(session: AsyncSession, channel_id: str, now: datetime) -> None:
    channel = await _require(session, channel_id)
    channel.state = "stopped"
    channel.stopped_at = now
    channel.retry_at = None
    session.add(channel)


async def record_channel_failure(
    session: AsyncSession, channel_id: str, error: str, now: datetime, *, retry_at: datetime | None = None
) -> None:
    """A renew/stop attempt failed: count it, show it, and try again no earlier than ``retry_at``."""
    channel = await _require(session, channel_id)
    channel.consecutive_failures += 1
    channel.last_error = error[:_ERROR_CAP]
    channel.retry_at = retry_at
    if channel.state == "active":
        channel.state = "error"
    session.add(channel)


async def channels_due_for_renewal(session: AsyncSession, now: datetime, margin: timedelta) -> list[Channel]:
    """Live channels within ``margin`` of expiry whose backoff (if any) has run out."""
    found = await session.exec(
        select(Channel)
        .where(
            col(Channel.state).in_(LIVE_STATES),
            col(Channel.expires_at) <= now + margin,
            or_(col(Channel.retry_at).is_(None), col(Channel.retry_at) <= now),
        )
        .order_by(col(Channel.expires_at))
    )
    return list(found.all())


async def channels_due_for_stop(session: AsyncSession, now: datetime) -> list[Channel]:
    """Retiring channels whose overlap (or backoff) is over."""
    found = await session.exec(
        select(Channel)
        .where(
            Channel.state == "retiring",
            or_(col(Channel.retry_at).is_(None), col(Channel.retry_at) <= now),
        )
        .order_by(col(Channel.created_at))
    )
    return list(found.all())


async def live_channels(session: AsyncSession) -> list[Channel]:
    found = await session.exec(select(Channel).where(col(Channel.state).in_(LIVE_STATES)))
    return list(found.all())


async def count_retiring(session: AsyncSession, calendar_id: str) -> int:
    found = await session.exec(
        select(func.count())
        .select_from(Channel)
        .where(Channel.calendar_id == calendar_id, Channel.state == "retiring")
    )
    return int(found.one())
