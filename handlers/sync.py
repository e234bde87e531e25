"""The provider-neutral sync consumer of ``calsync.signals`` (group ``calsync-sync``).

For each ``calendar.changed`` signal: load the calendar, its account and decrypted
credentials; run ``adapter.sync`` from the stored cursor (full when there is none or
the signal asks); publish every event as a ``change.event`` envelope on
``calsync.changes`` through the outbox, page by page, then save the new cursor.

Coalescing: push notifications queue at most one waiting signal per calendar
(``store/pending_sync.py``): a pass marks the calendar ``running`` before it asks the
provider and a coalesced signal whose row is gone was covered by an earlier pass. Other
signals recorded before the start of the calendar's last successful sync are skipped
too. Syncs of one calendar start at most once per ``min_interval`` (a burst waits
briefly). Signals of one calendar share a partition, so passes never overlap.

Errors: a dead cursor -> clear it and sync in full (absence proves nothing, so no
deletion is inferred); revoked consent -> account in error, channels stopped locally;
calendar gone / permanent -> calendar in error, channels retired; anything else is
recorded on the calendar and re-raised as transient so the bus retries in place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.clock import Clock
from calsync.crypto import Cipher
from calsync.envelope import TOPIC_CHANGES, Envelope, decode
from calsync.errors import (
    AuthorizationRevoked,
    PermanentProviderError,
    ProviderError,
    ResourceGone,
    SecretsError,
    SyncTokenExpired,
    TransientProviderError,
)
from calsync.observe import NULL_OBSERVER, Observer
from channels.base import AccountCredentials, CalendarAdapter, CalendarRef, SyncWindow
from channels.model import ExternalEvent, to_wire
from handlers.adapters import AdapterRegistry
from handlers.signals import SUPPORTED, CalendarChanged, WaitingCalendars, parse_signal
from store import accounts, calendars, pending_sync
from store import channels as channel_store
from store.changes import enqueue_new
from store.db import Database
from store.profiles import get_profile

log = structlog.get_logger("calsync.sync")

CONSUMER_GROUP: Final = "calsync-sync"
CHANGE_TYPE: Final = "change.event"
CHANGE_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class SyncOptions:
    window_back: timedelta = timedelta(days=30)  # until profiles carry their own window
    window_ahead: timedelta = timedelta(days=365)
    min_interval: float = 0.5  # seconds between two sync starts of one calendar


@dataclass(slots=True)
class SyncStats:
    """Counters for tests, benchmarks and metrics."""

    passes: int = 0
    full_passes: int = 0
    skipped: int = 0
    events: int = 0
    published: int = 0
    failures: int = 0


def change_message_id(event: ExternalEvent) -> str:
    """Deterministic per event version, so a replayed listing collapses onto the first publication."""
    version = f"{event.etag or ''}|{event.updated.isoformat() if event.updated else ''}|{event.status.value}"
    digest = hashlib.sha256(f"{event.calendar_id}|{event.event_id}|{version}".encode()).hexdigest()
    return "chg-" + digest[:48]


def change_envelope(event: ExternalEvent, now: datetime) -> Envelope:
    return Envelope(
        id=change_message_id(event),
        type=CHANGE_TYPE,
        version=CHANGE_VERSION,
        key=event.calendar_id,
        occurred_at=now,
        data=to_wire(event),
    )


def sync_window(settings: dict[str, object], now: datetime, options: SyncOptions) -> SyncWindow:
    """The profile's window (``sync_window_days_back`` / ``_ahead`` when set), else the defaults."""

    def days(name: str, default: timedelta) -> timedelta:
        value = settings.get(name)
        return timedelta(days=value) if isinstance(value, int) and 0 <= value <= 3650 else default

    return SyncWindow(
        now - days("sync_window_days_back", options.window_back),
        now + days("sync_window_days_ahead", options.window_ahead),
    )


def covered_by_last_pass(signal: CalendarChanged, last_synced_at: datetime | None) -> bool:
    """A plain signal recorded before the last pass started is covered by that pass.

    Coalesced push signals (``pending``) are decided by their ``pending_sync`` row instead,
    and a full resync is never skipped.
    """
    return (
        not signal.pending
        and not signal.full
        and last_synced_at is not None
        and signal.occurred_at < last_synced_at
    )


@dataclass(frozen=True, slots=True)
class _Target:
    ref: CalendarRef
    provider: str
    credentials: AccountCredentials
    cursor: str | None
    window: SyncWindow
    last_synced_at: datetime | None


class SyncConsumer:
    def __init__(
        self,
        db: Database,
        adapters: AdapterRegistry,
        cipher: Cipher,
        clock: Clock,
        options: SyncOptions | None = None,
        observer: Observer = NULL_OBSERVER,
        waiting: WaitingCalendars | None = None,
    ) -> None:
        self._db, self._adapters, self._cipher, self._clock = db, adapters, cipher, clock
        self._waiting = waiting or WaitingCalendars(enabled=False)
        self.options = options or SyncOptions()
        self._observer = observer
        self.stats = SyncStats()

    async def handle(self, value: bytes) -> None:
        """One record's value off the bus: decode (PoisonMessage on garbage) and run the signal."""
        await self.run(parse_signal(decode(value, SUPPORTED)))

    async def run(self, signal: CalendarChanged) -> None:
        target = await self._load(signal)
        if target is None:
            return
        if target.last_synced_at is not None:
            wait = (target.last_synced_at - self._clock.now()).total_seconds() + self.options.min_interval
            if wait > 0:
                await self._clock.sleep(wait)  # debounce a burst: its later signals will be skipped
        calendar_id = target.ref.calendar_id
        self._waiting.pass_starting(calendar_id)
        async with self._db.session() as session:
            # Committed before the provider is asked: a notification from now on queues a new signal.
            was_pending = await pending_sync.mark_running(session, calendar_id, self._clock.now())
        self._waiting.pass_starting(calendar_id)  # a webhook commit in between must not be trusted
        if signal.pending and not was_pending:
            self.stats.skipped += 1  # a pass that started after this signal was recorded covered it
            return
        adapter = self._adapters.get(target.provider)
        started = self._clock.now()
        full = signal.full or target.cursor is None
        outcome = "error"
        try:
            try:
                await self._pass(adapter, target, None if full else target.cursor, started)
            except SyncTokenExpired:
                log.info("sync_token_expired", calendar_id=calendar_id)
                async with self._db.session() as session:
                    await calendars.clear_cursor(session, calendar_id, self._clock.now())
                await self._pass(adapter, target, None, started)
            outcome = "ok"
        except AuthorizationRevoked as err:
            await self._revoked(target, err)
        except (ResourceGone, PermanentProviderError) as err:
            await self._gone(target, err)
        except ProviderError as err:
            self.stats.failures += 1
            async with self._db.session() as session:
                await calendars.save_sync_result(
                    session, calendar_id, cursor=None, synced_at=None,
                    error=str(err), now=self._clock.now(),
                )  # fmt: skip
            if isinstance(err, TransientProviderError):
                raise
            raise TransientProviderError(str(err)) from err
        finally:
            done = self._clock.now()
            # Lag only for passes a push notification triggered: arrival to changes recorded.
            lag = (
                (done - signal.occurred_at).total_seconds()
                if signal.reason == "push" and outcome == "ok"
                else None
            )
            self._observer.sync_pass(target.provider, outcome, (done - started).total_seconds(), lag)
        # Done (or nothing more to do for this calendar); a failed pass stays running and is retried.
        async with self._db.session() as session:
            await pending_sync.finish(session, calendar_id)

    async def _load(self, signal: CalendarChanged) -> _Target | None:
        async with self._db.session() as session:
            target = await self._target(session, signal)
            if target is None:
                self._waiting.pass_starting(signal.calendar_id)
                await pending_sync.drop(session, signal.calendar_id)  # not synced: nothing can wait
                return None
        if covered_by_last_pass(signal, target.last_synced_at):
            self.stats.skipped += 1
            return None
        return target

    async def _target(self, session: AsyncSession, signal: CalendarChanged) -> _Target | None:
        calendar = await calendars.get_calendar(session, signal.calendar_id)
        if calendar is None or calendar.state != "active" or calendar.role not in ("push", "pull"):
            log.info("sync_skipped_inactive", calendar_id=signal.calendar_id)
            return None
        account = await accounts.get_account(session, calendar.account_id)
        if account is None or account.state != "active":
            return None
        try:
            creds = accounts.credentials(account, self._cipher)
        except SecretsError as err:
            log.error("sync_credentials_unusable", calendar_id=calendar.id, error=str(err))
            return None
        profile = await get_profile(session, calendar.profile_id)
        now = self._clock.now()
        return _Target(
            ref=CalendarRef(calendar.id, calendar.external_id, account.external_account or None),
            provider=account.provider,
            credentials=creds,
            cursor=calendar.sync_cursor,
            window=sync_window(dict(profile.settings or {}), now, self.options),
            last_synced_at=calendar.last_synced_at,
        )

    async def _pass(
        self, adapter: CalendarAdapter, target: _Target, cursor: str | None, started: datetime
    ) -> None:
        self.stats.passes += 1
        if cursor is None:
            self.stats.full_passes += 1
        calendar_id = target.ref.calendar_id
        async for batch in adapter.sync(target.credentials, target.ref, cursor, target.window):
            now = self._clock.now()
            envelopes = [change_envelope(event, now) for event in batch.events]
            async with self._db.session() as session:
                self.stats.published += await enqueue_new(session, TOPIC_CHANGES, envelopes, now)
                if batch.cursor is not None:
                    await calendars.save_sync_result(
                        session, calendar_id, cursor=batch.cursor, synced_at=started, error=None, now=now
                    )
            self.stats.events += len(batch.events)
        log.debug("sync_pass_done", calendar_id=calendar_id, full=cursor is None)

    async def _revoked(self, target: _Target, err: ProviderError) -> None:
        # Without working credentials the provider cannot be asked to stop the channels:
        # they are retired locally and expire at the provider on their own.
        now = self._clock.now()
        log.warning("account_revoked", account_id=target.credentials.account_id, error=str(err))
        async with self._db.session() as session:
            await accounts.mark_account_error(session, target.credentials.account_id, str(err), now)
            for channel in await channel_store.channels_for_calendar(session, target.ref.calendar_id):
                if channel.state != "stopped":
                    await channel_store.mark_stopped(session, channel.id, now)

    async def _gone(self, target: _Target, err: ProviderError) -> None:
        now = self._clock.now()
        log.warning("calendar_unusable", calendar_id=target.ref.calendar_id, error=str(err))
        async with self._db.session() as session:
            await calendars.mark_calendar_error(session, target.ref.calendar_id, str(err), now)
            for channel in await channel_store.channels_for_calendar(session, target.ref.calendar_id):
                if channel.state in channel_store.LIVE_STATES:
                    await channel_store.retire_channel(session, channel.id, stop_at=now, now=now)
