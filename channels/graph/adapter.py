"""GraphAdapter: the CalendarAdapter protocol over Microsoft Graph v1.0 (msgraph-sdk).

Subscriptions watch ``/me/events`` (one per connected calendar row, so a channel maps to one
calendar), expire near Graph's maximum and are renewed by PATCH; lifecycle notifications come to
``<notificationUrl>/lifecycle``. Sync follows calendarView delta links. Every call passes through
the account's throttle (4 in flight per mailbox, MS-THRL) and ``call_with_retries``, the one retry
layer (kiota's RetryHandler is off, see client.py).

Delta's ``@removed`` also covers events that merely left the window (MS-DQE). During an
incremental pass each one is checked with a direct GET: 404 -> a confirmed tombstone, otherwise
the event's current state is emitted instead, so downstream never cancels a live event.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from kiota_abstractions.request_information import RequestInformation
from msgraph.graph_service_client import GraphServiceClient

from calsync.clock import Clock
from calsync.errors import PermanentProviderError, ResourceGone, SyncTokenExpired
from calsync.secrets import new_channel_secret
from channels.base import (
    AccountCredentials,
    CalendarRef,
    ChannelGrant,
    EventDraft,
    ProviderCalendar,
    SyncBatch,
    SyncWindow,
    WrittenEvent,
)
from channels.graph import cursor as graph_cursor
from channels.graph import requests as rq
from channels.graph.client import GraphClient, RotationSink
from channels.graph.errors import SubscriptionValidationFailed
from channels.graph.normalize import MalformedGraphEvent, normalize_graph_event
from channels.graph.wire import (
    SubscriptionRequest,
    event_body,
    exdates,
    graph_instant,
    instance_body,
    instance_search_window,
    notification_url_from,
    parse_instant,
)
from channels.model import EventStatus, ExternalEvent, Provider
from channels.retry import call_with_retries
from channels.throttle import AccountThrottle, AccountThrottles, Backoff

#: Outlook event subscriptions live at most 10,080 min (MS-LT); ask a little less to absorb skew.
MAX_SUBSCRIPTION_LIFETIME = timedelta(minutes=10_080) - timedelta(minutes=5)
DEFAULT_ALIASES = frozenset({"", "primary", "default", "calendar"})
Build = Callable[[GraphServiceClient], RequestInformation]


def _delta_call(scope: str | None, link: str | None, window: SyncWindow) -> Build:
    return lambda g: rq.delta(g, scope, link, window)


class GraphAdapter:
    provider = Provider.MICROSOFT

    def __init__(
        self,
        api_url: str,
        token_url: str,
        clock: Clock,
        *,
        on_rotate: RotationSink | None = None,
        max_lifetime: timedelta = MAX_SUBSCRIPTION_LIFETIME,
        rate_per_second: float = 16.0,  # 10,000 / 10 min per mailbox, with headroom
        burst: float = 20.0,
        concurrency: int = 4,  # Outlook: 4 concurrent requests per app+mailbox
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.client = GraphClient(api_url, token_url, clock, on_rotate=on_rotate)
        self._clock = clock
        self._max_lifetime = max_lifetime
        self._throttles = AccountThrottles(clock, rate_per_second, burst, concurrency)
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()  # jitter, not security
        self._default_calendar: dict[str, str] = {}

    def throttle(self, account_id: str) -> AccountThrottle:
        return self._throttles(account_id)

    async def close(self) -> None:
        await self.client.close()

    async def _json(
        self, account: AccountCredentials, build: Build, *, delta: bool = False
    ) -> dict[str, Any]:
        def once() -> Awaitable[dict[str, Any]]:
            return self.client.get_json(account, build, delta=delta)

        return await call_with_retries(
            once,
            throttle=self.throttle(account.account_id),
            clock=self._clock,
            backoff=self._backoff,
            rng=self._rng,
        )

    async def _scope(self, account: AccountCredentials, calendar: CalendarRef) -> str | None:
        """None for the mailbox's default calendar (documented v1.0 paths), else its Graph id."""
        if calendar.external_id.lower() in DEFAULT_ALIASES:
            return None
        default = self._default_calendar.get(account.account_id)
        if default is None:
            data = await self._json(account, rq.default_calendar)
            default = self._default_calendar[account.account_id] = str(data.get("id", ""))
        return None if calendar.external_id == default else calendar.external_id

    async def list_calendars(self, account: AccountCredentials) -> list[ProviderCalendar]:
        out: list[ProviderCalendar] = []
        link: str | None = None
        while True:
            page = await self._json(account, lambda g, at=link: rq.calendars(g, at))  # type: ignore[misc]
            for item in page.get("value", []):
                out.append(
                    ProviderCalendar(
                        external_id=str(item["id"]),
                        name=str(item.get("name", "")),
                        primary=bool(item.get("isDefaultCalendar")),
                        writable=bool(item.get("canEdit", True)),
                    )
                )
            link = page.get("@odata.nextLink")
            if not link:
                return out

    # --- subscriptions ---
    async def watch(
        self, account: AccountCredentials, calendar: CalendarRef, address: str, ttl: timedelta
    ) -> ChannelGrant:
        secret = new_channel_secret()
        notification_url, lifecycle_url = notification_url_from(address)
        expiration = self._clock.now() + min(ttl, self._max_lifetime)
        body = SubscriptionRequest(
            rq.MAILBOX_RESOURCE, notification_url, lifecycle_url, expiration, secret
        ).body()
        try:
            data = await self._json(account, lambda g: rq.create_subscription(g, body))
        except PermanentProviderError as err:
            if "ValidationError" in str(err):
                raise SubscriptionValidationFailed(notification_url) from err
            raise
        granted = parse_instant(data.get("expirationDateTime")) or expiration
        return ChannelGrant(str(data["id"]), None, granted, secret)

    async def renew(
        self,
        account: AccountCredentials,
        calendar: CalendarRef,
        current: ChannelGrant,
        address: str,
        ttl: timedelta,
    ) -> ChannelGrant:
        """PATCH keeps the subscription id and clientState; a vanished one is replaced by a new one."""
        wanted = graph_instant(self._clock.now() + min(ttl, self._max_lifetime))
        try:
            data = await self._json(account, lambda g: rq.renew_subscription(g, current.external_id, wanted))
        except ResourceGone:
            return await self.watch(account, calendar, address, ttl)
        granted = parse_instant(data.get("expirationDateTime")) or parse_instant(wanted)
        assert granted is not None
        return ChannelGrant(current.external_id, None, granted, current.secret)

    async def reauthorize(self, account: AccountCredentials, subscription_id: str) -> None:
        """Answer ``reauthorizationRequired`` (MS-REAUTH): 204, raises ResourceGone if it vanished."""
        await self._json(account, lambda g: rq.reauthorize_subscription(g, subscription_id))

    async def stop(self, account: AccountCredentials, external_id: str, resource_id: str | None) -> None:
        try:
            await self._json(account, lambda g: rq.delete_subscription(g, external_id))
        except ResourceGone:
            return  # already deleted or expired: the goal is reached

    # --- sync ---
    async def sync(
        self, account: AccountCredentials, calendar: CalendarRef, cursor: str | None, window: SyncWindow
    ) -> AsyncIterator[SyncBatch]:
        full = cursor is None
        link: str | None = None
        opened_until = window.end  # the window a new delta query opens; kept across incremental passes
        if cursor is not None:
            link, stamp = graph_cursor.decode(cursor)
            if graph_cursor.drifted(stamp, window.end):
                raise SyncTokenExpired("the delta window has drifted: roll it with a full resync")
            opened_until = stamp or window.end
        scope = await self._scope(account, calendar)
        while True:
            page = await self._json(account, _delta_call(scope, link, window), delta=True)
            events = await self._resolve(
                account, calendar, self._normalize(page.get("value", []), calendar), full
            )
            link = page.get("@odata.nextLink")
            if link:
                yield SyncBatch(events, None, full)
                continue
            delta_link = page.get("@odata.deltaLink")
            next_cursor = graph_cursor.encode(delta_link, opened_until) if delta_link else None
            yield SyncBatch(events, next_cursor, full)
            return

    def _normalize(self, items: list[Any], calendar: CalendarRef) -> list[ExternalEvent]:
        out: list[ExternalEvent] = []
        latest: dict[str, int] = {}
        for item in items:
            if not isinstance(item, dict):
                continue
            try:
                event = normalize_graph_event(item, calendar_id=calendar.calendar_id)
            except MalformedGraphEvent:
                continue  # skipped, never guessed at
            # Delta may list one entity several times in a pass; the last entry is the newest.
            if event.event_id in latest:
                out[latest[event.event_id]] = event
            else:
                latest[event.event_id] = len(out)
                out.append(event)
        return out

    async def _resolve(
        self, account: AccountCredentials, calendar: CalendarRef, events: list[ExternalEvent], full: bool
    ) -> tuple[ExternalEvent, ...]:
        out: list[ExternalEvent] = []
        for event in events:
            if not event.verify_deletion:
                out.append(event)
                continue
            current = await self.get_event(account, calendar, event.event_id)
            if current is None or current.is_tombstone:
                out.append(
                    ExternalEvent(
                        Provider.MICROSOFT, calendar.calendar_id, event.event_id, EventStatus.CANCELLED
                    )
                )
            else:
                out.append(current)  # it only left the window: still alive
        return tuple(out)

    async def get_event(
        self, account: AccountCredentials, calendar: CalendarRef, event_id: str
    ) -> ExternalEvent | None:
        try:
            item = await self._json(account, lambda g: rq.get_event(g, event_id))
        except ResourceGone:
            return None
        return normalize_graph_event(item, calendar_id=calendar.calendar_id)

    # --- writes ---
    async def create_event(
        self, account: AccountCredentials, calendar: CalendarRef, draft: EventDraft, idempotency_key: str
    ) -> WrittenEvent:
        scope = await self._scope(account, calendar)
        body = event_body(draft, idempotency_key=idempotency_key)
        # A retried POST with the same transactionId returns the event the first attempt made.
        data = await self._json(account, lambda g: rq.create_event(g, scope, body))
        written = WrittenEvent(str(data["id"]), data.get("@odata.etag"))
        for moment in exdates(draft.recurrence):
            try:
                await self.update_instance(account, calendar, written.event_id, moment, None)
            except ResourceGone:
                continue  # the pattern never produced that occurrence
        return written

    async def update_event(
        self,
        account: AccountCredentials,
        calendar: CalendarRef,
        event_id: str,
        draft: EventDraft,
        etag: str | None,
    ) -> WrittenEvent:
        body = event_body(draft)
        data = await self._json(account, lambda g: rq.patch_event(g, event_id, body, etag))
        return WrittenEvent(str(data.get("id", event_id)), data.get("@odata.etag"))

    async def update_instance(
        self,
        account: AccountCredentials,
        calendar: CalendarRef,
        series_event_id: str,
        original_start: datetime,
        draft: EventDraft | None,
    ) -> WrittenEvent | None:
        start, end = instance_search_window(original_start)
        listing = await self._json(account, lambda g: rq.instances(g, series_event_id, start, end))
        match = next(
            (i for i in listing.get("value", []) if parse_instant(i.get("originalStart")) == original_start),
            None,
        )
        if match is None:
            raise ResourceGone(f"no occurrence of {series_event_id} at {original_start.isoformat()}")
        instance_id = str(match["id"])
        if draft is None:
            await self.delete_event(account, calendar, instance_id, None)
            return None
        body = instance_body(draft)
        data = await self._json(account, lambda g: rq.patch_event(g, instance_id, body, None))
        return WrittenEvent(str(data.get("id", instance_id)), data.get("@odata.etag"))

    async def delete_event(
        self, account: AccountCredentials, calendar: CalendarRef, event_id: str, etag: str | None
    ) -> None:
        try:
            await self._json(account, lambda g: rq.delete_event(g, event_id, etag))
        except ResourceGone:
            return  # already gone, which is what we wanted
