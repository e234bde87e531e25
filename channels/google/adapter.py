"""GoogleAdapter: the CalendarAdapter protocol over Google Calendar v3.

Choices (see DESIGN.md): events are listed with ``singleEvents=false`` so a
recurring series arrives once as its master plus its exceptions (moved and
cancelled instances) — the availability index expands series itself; a full
sync is bounded by the profile's window and later passes reuse its sync token.
``showDeleted=true`` on every pass (the same parameters for full and incremental,
as the sync guide asks): a full resync after a 410 then reports deletions made
while the token was dead as tombstones instead of silently omitting them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from calsync.clock import Clock
from calsync.errors import ResourceGone
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
from channels.google.client import GoogleClient
from channels.google.errors import DuplicateId
from channels.google.normalize import MalformedEvent, normalize_google_event
from channels.google.wire import client_event_id, event_body, expiration_from_ms, original_start_param
from channels.model import ExternalEvent, Provider
from channels.retry import call_with_retries
from channels.throttle import AccountThrottle, AccountThrottles, Backoff

T = TypeVar("T")
PAGE_SIZE = 2500  # Google's maximum; fewer round trips per sync


def _list_events(service: Any, query: dict[str, Any]) -> Any:
    return service.events().list(**query)


def _list_calendars(service: Any, page: str | None) -> Any:
    return service.calendarList().list(pageToken=page, maxResults=250)


class GoogleAdapter:
    provider = Provider.GOOGLE

    def __init__(
        self,
        api_url: str,
        token_url: str,
        clock: Clock,
        *,
        rate_per_second: float = 5.0,
        burst: float = 10.0,
        concurrency: int = 4,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._client = GoogleClient(api_url, token_url)
        self._clock = clock
        self._throttles = AccountThrottles(clock, rate_per_second, burst, concurrency)
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()  # jitter, not security
        self._page_size = page_size

    def throttle(self, account_id: str) -> AccountThrottle:
        return self._throttles(account_id)

    async def _call(self, account: AccountCredentials, build: Callable[[Any], Any], **headers: str) -> Any:
        async def once() -> Any:
            return await self._client.execute(account, build(self._client.service), headers or None)

        return await self._retrying(account, once)

    async def _retrying(self, account: AccountCredentials, call: Callable[[], Awaitable[T]]) -> T:
        return await call_with_retries(
            call,
            throttle=self.throttle(account.account_id),
            clock=self._clock,
            backoff=self._backoff,
            rng=self._rng,
        )

    async def list_calendars(self, account: AccountCredentials) -> list[ProviderCalendar]:
        calendars: list[ProviderCalendar] = []
        page: str | None = None
        while True:
            token = page
            result = await self._call(account, partial(_list_calendars, page=token))
            for item in result.get("items", []):
                calendars.append(
                    ProviderCalendar(
                        external_id=item["id"],
                        name=item.get("summaryOverride") or item.get("summary", ""),
                        primary=bool(item.get("primary")),
                        writable=item.get("accessRole") in ("owner", "writer"),
                        time_zone=item.get("timeZone"),
                    )
                )
            page = result.get("nextPageToken")
            if not page:
                return calendars

    async def watch(
        self, account: AccountCredentials, calendar: CalendarRef, address: str, ttl: timedelta
    ) -> ChannelGrant:
        secret = new_channel_secret()
        body = {
            "id": uuid.uuid4().hex,  # unique per channel; renewal makes a new one
            "type": "web_hook",
            "address": address,
            "token": secret,
            "params": {"ttl": str(int(ttl.total_seconds()))},
        }
        result = await self._call(
            account, lambda s: s.events().watch(calendarId=calendar.external_id, body=body)
        )
        return ChannelGrant(
            external_id=result["id"],
            resource_id=result.get("resourceId"),
            expires_at=expiration_from_ms(result.get("expiration"), self._clock.now() + ttl),
            secret=secret,
        )

    async def renew(
        self,
        account: AccountCredentials,
        calendar: CalendarRef,
        current: ChannelGrant,
        address: str,
        ttl: timedelta,
    ) -> ChannelGrant:
        # Google has no renewal: a new channel overlaps the old one until the caller stops it.
        return await self.watch(account, calendar, address, ttl)

    async def stop(self, account: AccountCredentials, external_id: str, resource_id: str | None) -> None:
        body = {"id": external_id, "resourceId": resource_id or ""}
        try:
            await self._call(account, lambda s: s.channels().stop(body=body))
        except ResourceGone:
            return  # already stopped or expired: the goal is reached

    async def sync(
        self, account: AccountCredentials, calendar: CalendarRef, cursor: str | None, window: SyncWindow
    ) -> AsyncIterator[SyncBatch]:
        full = cursor is None
        params: dict[str, Any] = {
            "calendarId": calendar.external_id,
            "maxResults": self._page_size,
            "singleEvents": False,
            # Deleted events come back as explicit tombstones even in a full (re)sync, so a
            # deletion made while a sync token was dead is still seen, never inferred.
            "showDeleted": True,
        }
        if full:
            params["timeMin"] = window.start.isoformat()
            params["timeMax"] = window.end.isoformat()
        else:
            params["syncToken"] = cursor
        page: str | None = None
        while True:
            query = {**params, **({"pageToken": page} if page else {})}
            result = await self._call(account, partial(_list_events, query=query))
            events = tuple(self._normalize(result.get("items", []), calendar))
            page = result.get("nextPageToken")
            if page:
                yield SyncBatch(events, None, full)
                continue
            yield SyncBatch(events, result.get("nextSyncToken"), full)
            return

    def _normalize(self, items: list[dict[str, Any]], calendar: CalendarRef) -> list[ExternalEvent]:
        out: list[ExternalEvent] = []
        for item in items:
            try:
                out.append(
                    normalize_google_event(
                        item, calendar_id=calendar.calendar_id, owner_email=calendar.owner_email
                    )
                )
            except MalformedEvent:
                continue  # counted by the caller's metrics via the event count; never guessed at
        return out

    async def get_event(
        self, account: AccountCredentials, calendar: CalendarRef, event_id: str
    ) -> ExternalEvent | None:
        try:
            item = await self._call(
                account, lambda s: s.events().get(calendarId=calendar.external_id, eventId=event_id)
            )
        except ResourceGone:
            return None
        return normalize_google_event(
            item, calendar_id=calendar.calendar_id, owner_email=calendar.owner_email
        )

    async def create_event(
        self, account: AccountCredentials, calendar: CalendarRef, draft: EventDraft, idempotency_key: str
    ) -> WrittenEvent:
        event_id = client_event_id(idempotency_key)
        body = event_body(draft, event_id)
        try:
            result = await self._call(
                account, lambda s: s.events().insert(calendarId=calendar.external_id, body=body)
            )
        except DuplicateId:
            # An earlier attempt got through: adopt its event, then bring it to this draft.
            existing = await self._call(
                account, lambda s: s.events().get(calendarId=calendar.external_id, eventId=event_id)
            )
            if existing.get("status") == "cancelled":
                return await self.update_event(account, calendar, event_id, draft, None)
            return WrittenEvent(event_id, existing.get("etag"))
        return WrittenEvent(result["id"], result.get("etag"))

    async def update_event(
        self,
        account: AccountCredentials,
        calendar: CalendarRef,
        event_id: str,
        draft: EventDraft,
        etag: str | None,
    ) -> WrittenEvent:
        body = event_body(draft)
        headers = {"If-Match": etag} if etag else {}
        result = await self._call(
            account,
            lambda s: s.events().update(calendarId=calendar.external_id, eventId=event_id, body=body),
            **headers,
        )
        return WrittenEvent(result["id"], result.get("etag"))

    async def update_instance(
        self,
        account: AccountCredentials,
        calendar: CalendarRef,
        series_event_id: str,
        original_start: datetime,
        draft: EventDraft | None,
    ) -> WrittenEvent | None:
        listing = await self._call(
            account,
            lambda s: s.events().instances(
                calendarId=calendar.external_id,
                eventId=series_event_id,
                originalStart=original_start_param(original_start),
                showDeleted=True,
            ),
        )
        items = listing.get("items", [])
        if not items:
            raise ResourceGone(f"no instance of {series_event_id} at {original_start.isoformat()}")
        instance_id = items[0]["id"]
        if draft is None:
            await self.delete_event(account, calendar, instance_id, None)
            return None
        body = event_body(draft)
        result = await self._call(
            account,
            lambda s: s.events().patch(calendarId=calendar.external_id, eventId=instance_id, body=body),
        )
        return WrittenEvent(result["id"], result.get("etag"))

    async def delete_event(
        self, account: AccountCredentials, calendar: CalendarRef, event_id: str, etag: str | None
    ) -> None:
        headers = {"If-Match": etag} if etag else {}
        try:
            await self._call(
                account,
                lambda s: s.events().delete(calendarId=calendar.external_id, eventId=event_id),
                **headers,
            )
        except ResourceGone:
            return  # 404 / 410 deleted: already gone, which is what we wanted
