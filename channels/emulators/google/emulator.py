"""``GoogleEmulator``: the state of one emulated Google Calendar, and its test/fault operations.

It wires the parts together (store, OAuth, events, listings, channels, push, faults) around
one Clock. HTTP lives in ``app.py``; every operation a test or the sandbox needs is a plain
method here, mirrored by the JSON control API in ``control.py``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from calsync.clock import Clock, SystemClock
from channels.emulators.google.auth import AuthRegistry
from channels.emulators.google.config import EmulatorConfig
from channels.emulators.google.errors import Json, not_found
from channels.emulators.google.events import EventService
from channels.emulators.google.faults import Counters, FaultInjector, PushFaults
from channels.emulators.google.listing import Lister
from channels.emulators.google.push import Channel, Notifier
from channels.emulators.google.store import Calendar, Store
from channels.emulators.google.timeutil import zone
from channels.emulators.google.tokens import PageSnapshots
from channels.emulators.google.watch import ChannelRegistry, resource_id_for


class GoogleEmulator:
    def __init__(self, clock: Clock | None = None, config: EmulatorConfig | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.config = config or EmulatorConfig()
        self.store = Store(self.config.seed)
        self.auth = AuthRegistry(self.clock, self.store, self.config.access_token_lifetime)
        self.counters = Counters()
        self.faults = FaultInjector(self.config.seed + 2)
        self.push_faults = PushFaults()
        self.notifier = Notifier(self.clock, self.config, self.push_faults, self.counters)
        self.channels = ChannelRegistry(self.clock, self.config)
        self.events = EventService(self.store, self.clock, self.config, self._announce)
        self.lister = Lister(
            self.clock, self.config, PageSnapshots(self.store, self.config.max_page_snapshots)
        )
        self._held: dict[str, bool] = {}  # calendar id -> changed while its push was held

    # -- users, tokens, calendars ----------------------------------------------------------
    def create_user(
        self,
        email: str,
        *,
        time_zone: str = "UTC",
        refresh_token: str | None = None,
        client_id: str | None = None,
    ) -> str:
        """A user with a primary calendar (id = e-mail); returns a refresh token for them."""
        if email not in self.store.calendar_lists:
            self._add_calendar(email, email, email, time_zone, primary=True)
        return self.auth.add_refresh_token(email, refresh_token, client_id)

    def add_refresh_token(self, email: str, token: str | None = None, client_id: str | None = None) -> str:
        if email not in self.store.calendar_lists:
            raise KeyError(f"no such user {email!r}")
        return self.auth.add_refresh_token(email, token, client_id)

    def revoke_refresh_token(self, token: str) -> None:
        self.auth.revoke(token)

    def create_calendar(self, owner: str, summary: str, *, time_zone: str | None = None) -> str:
        """A secondary calendar owned by ``owner``; returns its id."""
        primary = self.store.calendars[owner]
        calendar_id = self.store.new_event_id() + "@group.calendar.google.com"
        self._add_calendar(calendar_id, owner, summary, time_zone or primary.time_zone, primary=False)
        return calendar_id

    def _add_calendar(
        self, calendar_id: str, owner: str, summary: str, time_zone: str, *, primary: bool
    ) -> Calendar:
        zone(time_zone)  # fail fast on a bad zone name
        now = self.clock.now()
        calendar = Calendar(calendar_id, owner, summary, time_zone, primary, "", self.store.new_etag(now))
        calendar.resource_id = resource_id_for(calendar)
        calendar.updated = now
        self.store.add_calendar(calendar)
        return calendar

    def delete_calendar(self, calendar_id: str) -> None:
        self.channels.stop_calendar(calendar_id)
        self.store.remove_calendar(calendar_id)

    def calendar(self, calendar_id: str, user: str | None = None) -> Calendar:
        """A calendar by id (or ``primary`` of ``user``) — a test's direct view of the state."""
        if user is not None:
            found = self.store.resolve(user, calendar_id)
        else:
            found = self.store.calendars.get(calendar_id)
        if found is None:
            raise not_found()
        return found

    def seed_event(self, calendar_id: str, body: Json, *, user: str | None = None) -> Json:
        """Insert an event as if another client (say, the Google Calendar UI) had created it.

        It is a real change: sync tokens see it and watching channels are told.
        """
        return self.events.insert(self.calendar(calendar_id, user), body)

    # -- faults ----------------------------------------------------------------------------
    def inject_errors(
        self, kind: str, *, count: int | None = None, fraction: float | None = None, user: str | None = None
    ) -> None:
        """Fail the next ``count`` API calls, or a seeded ``fraction`` of them, with ``kind``:
        rateLimitExceeded (403), rateLimitExceeded429, userRateLimitExceeded, quotaExceeded,
        backendError (500)."""
        self.faults.inject(kind, count=count, fraction=fraction, user=user)

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_push_faults(
        self, *, drop_fraction: float = 0.0, duplicate_fraction: float = 0.0, delay_seconds: float = 0.0
    ) -> None:
        self.push_faults.drop_fraction = drop_fraction
        self.push_faults.duplicate_fraction = duplicate_fraction
        self.push_faults.delay_seconds = delay_seconds

    def hold_push(self, calendar_id: str) -> None:
        """Hold back the calendar's change notifications until ``release_push``.

        Google's push is neither prompt nor ordered across calendars; a test holds one calendar
        to force the order in which two calendars' changes reach a client.
        """
        self._held.setdefault(self.calendar(calendar_id).id, False)

    def release_push(self, calendar_id: str) -> None:
        """Stop holding: one ``exists`` per active channel if the calendar changed meanwhile."""
        calendar = self.calendar(calendar_id)
        if self._held.pop(calendar.id, False):
            self._announce(calendar)

    def invalidate_sync_tokens(self, calendar_id: str) -> None:
        """Every sync token issued so far for the calendar now gets 410 fullSyncRequired
        (models an ACL change or server-side expiry)."""
        self.calendar(calendar_id).token_epoch += 1

    def advance_clock(self, seconds: float) -> datetime:
        """Move a FakeClock forward: expires access tokens and channels that fall due."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise TypeError("the emulator clock cannot be advanced (not a FakeClock)")
        advance(timedelta(seconds=seconds))
        return self.clock.now()

    async def wait_idle(self) -> None:
        """Until every scheduled push delivery (retries included) has finished."""
        await self.notifier.wait_idle()

    async def close(self) -> None:
        await self.notifier.close()

    # -- push ------------------------------------------------------------------------------
    def _announce(self, calendar: Calendar) -> None:
        if calendar.id in self._held:
            self._held[calendar.id] = True
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop, so no channel could have been created through the API
        for channel in self.channels.active_for(calendar.id):
            self.notifier.notify(channel, "exists")

    def announce_sync(self, channel: Channel) -> asyncio.Task[None] | None:
        return self.notifier.notify(channel, "sync")
