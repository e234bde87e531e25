"""Read models for operators: channels joined with calendar, account and profile.

Used by ``GET /v1/channels``, ``calsync channels``, the ``/status`` page, the channel
gauges and the renewal planner's account lookup. View-state filters are translated to
SQL (``view_condition``) so that pagination stays keyset-based on (expires_at, id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import Calendar, Channel, Profile, ProviderAccount


@dataclass(frozen=True, slots=True)
class ChannelRow:
    id: str
    provider: str
    organization_id: str
    profile_id: str
    profile_name: str
    calendar_id: str
    calendar_name: str
    state: str  # stored state
    expires_at: datetime
    last_renewed_at: datetime | None
    last_notification_at: datetime | None
    last_synced_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    created_at: datetime


async def active_accounts(session: AsyncSession) -> dict[str, str]:
    """Account id -> provider, for accounts whose credentials are usable."""
    found = await session.exec(
        select(ProviderAccount.id, ProviderAccount.provider).where(ProviderAccount.state == "active")
    )
    return {account_id: provider for account_id, provider in found.all()}


def view_condition(view: str, now: datetime, margin: timedelta, warn_before: timedelta) -> Any:
    """The SQL twin of ``handlers.channel_health.view_state`` for one view state."""
    state, expires = col(Channel.state), col(Channel.expires_at)
    live = state.in_(("active", "error"))
    if view == "stopped":
        return state == "stopped"
    if view == "renewing":
        return or_(
            state == "retiring",
            and_(state == "active", expires > now + warn_before, expires <= now + margin),
        )
    if view == "expiring_soon":
        return and_(live, expires > now, expires <= now + warn_before)
    if view == "error":
        return or_(and_(live, expires <= now), and_(state == "error", expires > now + warn_before))
    return and_(state == "active", expires > now + margin)


async def list_channels(
    session: AsyncSession,
    *,
    organization_id: str | None = None,
    provider: str | None = None,
    condition: Any = None,
    after: tuple[datetime, str] | None = None,
    limit: int | None = None,
    include_stopped: bool = True,
) -> list[ChannelRow]:
    """Channels by soonest expiry (then id); ``after`` is the keyset cursor of the previous page."""
    query = (
        select(Channel, Calendar, ProviderAccount, Profile)
        .join(Calendar, col(Calendar.id) == col(Channel.calendar_id))
        .join(ProviderAccount, col(ProviderAccount.id) == col(Calendar.account_id))
        .join(Profile, col(Profile.id) == col(Calendar.profile_id))
    )
    if organization_id is not None:
        query = query.where(ProviderAccount.organization_id == organization_id)
    if provider is not None:
        query = query.where(Channel.provider == provider)
    if condition is not None:
        query = query.where(condition)
    if not include_stopped:
        query = query.where(col(Channel.state) != "stopped")
    if after is not None:
        query = query.where(tuple_(col(Channel.expires_at), col(Channel.id)) > tuple_(*after))
    query = query.order_by(col(Channel.expires_at), col(Channel.id))
    if limit is not None:
        query = query.limit(limit)
    found = await session.exec(query)
    return [
        ChannelRow(
            ch.id,
            ch.provider,
            acc.organization_id,
            prof.id,
            prof.name,
            cal.id,
            cal.name,
            ch.state,
            ch.expires_at,
            ch.last_renewed_at,
            ch.last_notification_at,
            cal.last_synced_at,
            ch.consecutive_failures,
            ch.last_error,
            ch.created_at,
        )
        for ch, cal, acc, prof in found.all()
    ]


async def count_by_state(session: AsyncSession) -> dict[tuple[str, str], int]:
    """(provider, stored state) -> number of channels."""
    found = await session.exec(
        select(Channel.provider, Channel.state, func.count()).group_by(Channel.provider, Channel.state)
    )
    return {(p, s): int(n) for p, s, n in found.all()}
