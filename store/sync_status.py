"""Read model of a profile's "last synchronised" view: one row per selected calendar.

For each calendar with role push or pull: its account and provider, the last
successful sync (the instant the pass began, see ``store.calendars``), the live
channel that expires soonest (the one whose lapse would be noticed first), and the
most telling error. Errors are picked root cause first: an account error (revoked
consent) explains every calendar of that account; a calendar error (sync failing)
comes next; a channel error (renewal failing) last. Three queries, no N+1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.channels import LIVE_STATES
from store.tables import Calendar, Channel, ProviderAccount

ErrorSource = Literal["account", "calendar", "channel"]


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    id: str
    state: str  # active | error
    expires_at: datetime
    last_notification_at: datetime | None
    consecutive_failures: int


@dataclass(frozen=True, slots=True)
class LastError:
    source: ErrorSource
    message: str


@dataclass(frozen=True, slots=True)
class CalendarStatus:
    id: str
    account_id: str
    account_state: str
    provider: str
    external_id: str
    name: str
    role: str
    state: str
    last_synced_at: datetime | None
    channel: ChannelStatus | None  # None: nothing watches the calendar right now
    last_error: LastError | None


def _soonest(channels: list[Channel]) -> Channel | None:
    return min(channels, key=lambda c: (c.expires_at, c.id), default=None)


def _last_error(account: ProviderAccount, calendar: Calendar, channels: list[Channel]) -> LastError | None:
    if account.state != "active" and account.last_error:
        return LastError("account", account.last_error)
    if calendar.last_error:
        return LastError("calendar", calendar.last_error)
    failing = [c for c in channels if c.last_error]
    if failing:
        worst = max(failing, key=lambda c: (c.consecutive_failures, c.created_at))
        return LastError("channel", worst.last_error or "")
    return None


def _channel_status(channel: Channel | None) -> ChannelStatus | None:
    if channel is None:
        return None
    return ChannelStatus(
        channel.id, channel.state, channel.expires_at, channel.last_notification_at,
        channel.consecutive_failures,
    )  # fmt: skip


async def profile_sync_status(session: AsyncSession, profile_id: str) -> list[CalendarStatus]:
    """The status of every calendar the profile syncs, push calendar first, then by name."""
    rows = (
        await session.exec(
            select(Calendar, ProviderAccount)
            .join(ProviderAccount, col(ProviderAccount.id) == col(Calendar.account_id))
            .where(
                Calendar.profile_id == profile_id,
                col(Calendar.role).in_(("push", "pull")),
                Calendar.state != "removed",
            )
        )
    ).all()
    ids = [calendar.id for calendar, _ in rows]
    live: dict[str, list[Channel]] = {}
    if ids:
        found = await session.exec(
            select(Channel).where(col(Channel.calendar_id).in_(ids), col(Channel.state).in_(LIVE_STATES))
        )
        for channel in found.all():
            live.setdefault(channel.calendar_id, []).append(channel)
    out = []
    for calendar, account in rows:
        channels = live.get(calendar.id, [])
        out.append(
            CalendarStatus(
                id=calendar.id,
                account_id=account.id,
                account_state=account.state,
                provider=account.provider,
                external_id=calendar.external_id,
                name=calendar.name,
                role=calendar.role,
                state=calendar.state,
                last_synced_at=calendar.last_synced_at,
                channel=_channel_status(_soonest(channels)),
                last_error=_last_error(account, calendar, channels),
            )
        )
    return sorted(out, key=lambda s: (0 if s.role == "push" else 1, s.name, s.id))
