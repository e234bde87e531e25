"""Provider work that Graph lifecycle notifications ask for, run outside the webhook request.

The view has already recorded what must not be lost (a full-resync signal, the removed channel
marked stopped) before it answers 202; this module only talks to Graph:

- ``reauthorizationRequired`` -> ``POST /subscriptions/{id}/reauthorize`` (MS-REAUTH). If the
  subscription has vanished meanwhile, the channel is stopped and a new one watched.
- ``subscriptionRemoved`` -> a new subscription for the calendar (``ChannelManager.watch``).

Tasks are tracked so shutdown can wait for them (bounded) and cancel stragglers. A task lost to a
crash costs nothing durable: the renewal loop PATCHes (which also reauthorizes) and re-watches
calendars that have no live channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from calsync.clock import Clock
from calsync.crypto import Cipher
from calsync.errors import CalsyncError, ProviderError, ResourceGone
from channels.graph.adapter import GraphAdapter
from handlers.adapters import AdapterRegistry
from handlers.channels import ChannelManager
from handlers.webhooks.graph_view import LifecycleWork
from store import accounts, calendars
from store import channels as channel_store
from store.db import Database

log = structlog.get_logger("calsync.graph_lifecycle")


class GraphLifecycle:
    def __init__(
        self,
        db: Database,
        adapters: AdapterRegistry,
        cipher: Cipher,
        clock: Clock,
        channels: Callable[[], ChannelManager | None],
    ) -> None:
        self._db, self._adapters, self._cipher, self._clock = db, adapters, cipher, clock
        self._channels = channels
        self._tasks: set[asyncio.Task[None]] = set()
        self.done: list[LifecycleWork] = []

    def submit(self, work: LifecycleWork) -> None:
        task = asyncio.create_task(self.run(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, limit_s: float = 5.0) -> None:
        """Let running work finish (bounded), then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=limit_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def run(self, work: LifecycleWork) -> None:
        try:
            if work.event == "reauthorizationRequired":
                await self._reauthorize(work)
            elif work.event == "subscriptionRemoved":
                await self._rewatch(work.calendar_id)
            self.done.append(work)
        except CalsyncError as err:  # left to the renewal loop, which retries with backoff
            log.warning("graph_lifecycle_failed", lifecycle_event=work.event, error=str(err))

    async def _rewatch(self, calendar_id: str) -> None:
        manager = self._channels()
        if manager is None:
            return  # not started yet: the renewal loop will watch the calendar
        await manager.watch(calendar_id)

    async def _reauthorize(self, work: LifecycleWork) -> None:
        async with self._db.session() as session:
            channel = await channel_store.get_channel(session, work.channel_id)
            calendar = await calendars.get_calendar(session, work.calendar_id)
            account = await accounts.get_account(session, calendar.account_id) if calendar else None
            creds = accounts.credentials(account, self._cipher) if account else None
        if channel is None or creds is None or channel.state == "stopped":
            return
        adapter = self._adapters.get(creds.provider)
        if not isinstance(adapter, GraphAdapter):
            return
        try:
            await adapter.reauthorize(creds, channel.external_id)
        except ResourceGone:
            async with self._db.session() as session:
                await channel_store.mark_stopped(session, channel.id, self._clock.now())
            await self._rewatch(work.calendar_id)
        except ProviderError as err:
            async with self._db.session() as session:
                await channel_store.record_channel_failure(
                    session, channel.id, f"reauthorize: {err}", self._clock.now()
                )
            raise
        log.info("graph_subscription_reauthorized", channel_id=channel.id)
