"""Channel rows for webhook verification, read once per few seconds instead of once per batch.

A burst of notifications names the same few channels again and again. What verification
needs of a channel never changes (calendar, resource id, token hash), except its state: a
cached ``active`` that went ``stopped`` meanwhile costs at most one spare sync pass, never a
lost notification. Unknown channels are not cached, so a channel created a moment ago (its
``sync`` message can beat our own ``events.watch`` answer) is found as soon as it is committed.

``last_notification_at`` is for people (channel status pages), so it is written at most
once a second per channel rather than once per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.clock import Clock
from store import channels as channel_store

TTL: Final = timedelta(seconds=2)
NOTIFIED_EVERY: Final = timedelta(seconds=1)
MAX_CACHED: Final = 10_000  # forged ids are never cached, so this bounds only real channels


@dataclass(frozen=True, slots=True)
class ChannelView:
    """The channel row as verification sees it."""

    id: str
    calendar_id: str
    resource_id: str | None
    token_hash: str
    state: str


class ChannelLookup:
    def __init__(self, provider: str, clock: Clock) -> None:
        self._provider, self._clock = provider, clock
        self._cached: dict[str, tuple[ChannelView, datetime]] = {}
        self._notified: dict[str, datetime] = {}

    async def find(self, session: AsyncSession, external_id: str) -> ChannelView | None:
        now = self._clock.now()
        hit = self._cached.get(external_id)
        if hit is not None and now - hit[1] < TTL:
            return hit[0]
        row = await channel_store.find_channel(session, self._provider, external_id)
        if row is None:
            self._cached.pop(external_id, None)
            return None
        view = ChannelView(row.id, row.calendar_id, row.resource_id, row.token_hash, row.state)
        if len(self._cached) >= MAX_CACHED:
            self._cached.clear()
        self._cached[external_id] = (view, now)
        return view

    def forget(self, external_id: str) -> None:
        self._cached.pop(external_id, None)

    async def mark_notified(self, session: AsyncSession, channel_ids: Iterable[str], now: datetime) -> None:
        due = {c for c in channel_ids if c not in self._notified or now - self._notified[c] >= NOTIFIED_EVERY}
        if not due:
            return
        await channel_store.mark_notified(session, due, now)
        if len(self._notified) >= MAX_CACHED:
            self._notified.clear()
        self._notified.update(dict.fromkeys(due, now))
