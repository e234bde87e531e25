"""Channel lifecycle over the adapter Protocol, provider-neutral: watch, renew, retire, stop.

``ChannelManager.tick`` reads calendars and channels, asks ``channels.renewal.plan``
what to do, and does it. Provider calls happen outside any database transaction; each
outcome is committed on its own, so one failing calendar never blocks the others.
Failures are visible on the channel (``state``, ``consecutive_failures``,
``last_error``) and retried no earlier than ``retry_at``. A new channel is followed by
a ``calendar.changed`` signal: changes made before it existed are not notified.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.clock import Clock
from calsync.crypto import Cipher
from calsync.envelope import TOPIC_SIGNALS
from calsync.errors import AuthorizationRevoked, CalsyncError, ProviderError, SecretsError
from calsync.secrets import hash_secret
from channels.base import AccountCredentials, CalendarRef, ChannelGrant
from channels.renewal import (
    Action,
    ChannelView,
    Expire,
    Renew,
    RenewalPolicy,
    Retire,
    Stop,
    Watch,
    plan,
    retry_delay,
)
from handlers.adapters import AdapterRegistry
from handlers.signals import calendar_changed
from store import accounts, calendars
from store import channels as channel_store
from store.db import Database
from store.outbox import enqueue
from store.tables import Calendar, Channel

log = structlog.get_logger("calsync.channels")

AddressFor = Callable[[str], str]  # provider -> the public webhook URL providers call


@dataclass(slots=True)
class ChannelStats:
    watched: int = 0
    renewed: int = 0
    stopped: int = 0
    failures: int = 0
    watch_held: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Context:
    calendar: Calendar
    provider: str
    credentials: AccountCredentials

    @property
    def ref(self) -> CalendarRef:
        return CalendarRef(
            self.calendar.id, self.calendar.external_id, self.credentials.external_account or None
        )


class ChannelManager:
    def __init__(
        self,
        db: Database,
        adapters: AdapterRegistry,
        cipher: Cipher,
        clock: Clock,
        address_for: AddressFor,
        policy: RenewalPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._db, self._adapters, self._cipher, self._clock = db, adapters, cipher, clock
        self._address_for = address_for
        self.policy = policy or RenewalPolicy()
        self._rng = rng or random.Random()  # jitter, not security
        self.stats = ChannelStats()
        self._watch_failures: dict[str, int] = {}

    async def tick(self) -> list[Action]:
        """One planning round; returns what it attempted."""
        now = self._clock.now()
        async with self._db.session() as session:
            watched = [
                c.id for c in await calendars.synced_calendars(session)
                if await self._watchable(session, c)
            ]  # fmt: skip
            rows = await channel_store.live_channels(session) + await channel_store.channels_due_for_stop(
                session, now
            )
        views = [
            ChannelView(r.id, r.calendar_id, r.state, r.created_at, r.expires_at, r.retry_at) for r in rows
        ]
        actions = plan(watched, views, now, self.policy, self.stats.watch_held)
        for action in actions:
            try:
                await self._do(action)
            except CalsyncError as err:  # one channel's trouble never stops the round
                log.warning("channel_action_failed", action=type(action).__name__, error=str(err))
        return actions

    async def _watchable(self, session: AsyncSession, calendar: Calendar) -> bool:
        account = await accounts.get_account(session, calendar.account_id)
        return account is not None and account.state == "active" and account.provider in self._adapters

    async def _context(self, calendar_id: str) -> _Context | None:
        async with self._db.session() as session:
            calendar = await calendars.get_calendar(session, calendar_id)
            account = await accounts.get_account(session, calendar.account_id) if calendar else None
            if calendar is None or account is None or account.state != "active":
                return None
            try:
                return _Context(calendar, account.provider, accounts.credentials(account, self._cipher))
            except SecretsError as err:
                log.error("channel_credentials_unusable", calendar_id=calendar_id, error=str(err))
                return None

    async def _do(self, action: Action) -> None:
        if isinstance(action, Watch):
            await self.watch(action.calendar_id)
        elif isinstance(action, Renew):
            await self.renew(action.channel_id)
        elif isinstance(action, Retire):
            async with self._db.session() as session:
                now = self._clock.now()
                await channel_store.retire_channel(session, action.channel_id, stop_at=now, now=now)
        elif isinstance(action, Expire):
            async with self._db.session() as session:
                await channel_store.mark_stopped(session, action.channel_id, self._clock.now())
        elif isinstance(action, Stop):
            await self.stop(action.channel_id)

    async def watch(self, calendar_id: str) -> Channel | None:
        ctx = await self._context(calendar_id)
        if ctx is None:
            return None
        adapter = self._adapters.get(ctx.provider)
        try:
            grant = await adapter.watch(
                ctx.credentials, ctx.ref, self._address_for(ctx.provider), self.policy.ttl
            )
        except ProviderError as err:
            failures = self._watch_failures[calendar_id] = self._watch_failures.get(calendar_id, 0) + 1
            self.stats.failures += 1
            self.stats.watch_held[calendar_id] = self._clock.now() + retry_delay(
                failures, self.policy, self._rng
            )
            await self._provider_failed(ctx, err, channel_id=None)
            return None
        self._watch_failures.pop(calendar_id, None)
        self.stats.watch_held.pop(calendar_id, None)
        self.stats.watched += 1
        return await self._record_grant(ctx, grant, replaces=None)

    async def _record_grant(self, ctx: _Context, grant: ChannelGrant, replaces: Channel | None) -> Channel:
        now = self._clock.now()
        async with self._db.session() as session:
            channel = await channel_store.add_channel(
                session, calendar_id=ctx.calendar.id, provider=ctx.provider, external_id=grant.external_id,
                resource_id=grant.resource_id, secret_hash=hash_secret(grant.secret),
                expires_at=grant.expires_at, now=now,
            )  # fmt: skip
            if replaces is not None:
                stop_at = now + self.policy.overlap
                await channel_store.retire_channel(session, replaces.id, stop_at=stop_at, now=now)
            else:
                # Catch up on whatever changed while nothing was watching.
                enqueue(
                    session,
                    TOPIC_SIGNALS,
                    calendar_changed(ctx.calendar.id, ctx.provider, "channel", now),
                    now,
                )
        log.info(
            "channel_created", calendar_id=ctx.calendar.id, channel_id=channel.id, expires_at=grant.expires_at
        )
        return channel

    async def renew(self, channel_id: str) -> None:
        async with self._db.session() as session:
            current = await channel_store.get_channel(session, channel_id)
        if current is None:
            return
        ctx = await self._context(current.calendar_id)
        if ctx is None:
            return
        adapter = self._adapters.get(ctx.provider)
        grant_now = ChannelGrant(current.external_id, current.resource_id, current.expires_at, "")
        try:
            grant = await adapter.renew(
                ctx.credentials, ctx.ref, grant_now, self._address_for(ctx.provider), self.policy.ttl
            )
        except ProviderError as err:
            await self._provider_failed(ctx, err, channel_id=current.id)
            return
        self.stats.renewed += 1
        if grant.external_id == current.external_id:  # renewed in place (Graph PATCH)
            async with self._db.session() as session:
                await channel_store.mark_renewed(
                    session, current.id, expires_at=grant.expires_at, now=self._clock.now()
                )
            return
        await self._record_grant(ctx, grant, replaces=current)  # a new channel (Google)

    async def stop(self, channel_id: str) -> None:
        async with self._db.session() as session:
            channel = await channel_store.get_channel(session, channel_id)
        if channel is None or channel.state == "stopped":
            return
        ctx = await self._context(channel.calendar_id)
        if ctx is not None:
            try:
                await self._adapters.get(ctx.provider).stop(
                    ctx.credentials, channel.external_id, channel.resource_id
                )
            except ProviderError as err:
                await self._provider_failed(ctx, err, channel_id=channel.id)
                return
        else:
            log.warning("channel_stop_without_credentials", channel_id=channel.id)
        self.stats.stopped += 1
        async with self._db.session() as session:
            await channel_store.mark_stopped(session, channel.id, self._clock.now())

    async def _provider_failed(self, ctx: _Context, err: ProviderError, *, channel_id: str | None) -> None:
        self.stats.failures += 1
        now = self._clock.now()
        log.warning(
            "channel_provider_error", calendar_id=ctx.calendar.id, channel_id=channel_id, error=str(err)
        )
        async with self._db.session() as session:
            if isinstance(err, AuthorizationRevoked):
                await accounts.mark_account_error(session, ctx.credentials.account_id, str(err), now)
            if channel_id is None:
                await calendars.save_sync_result(
                    session, ctx.calendar.id, cursor=None, synced_at=None, error=f"watch: {err}", now=now
                )
                return
            channel = await channel_store.get_channel(session, channel_id)
            failures = (channel.consecutive_failures if channel else 0) + 1
            retry_at = now + retry_delay(failures, self.policy, self._rng)
            await channel_store.record_channel_failure(session, channel_id, str(err), now, retry_at=retry_at)
