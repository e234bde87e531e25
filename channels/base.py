"""The one adapter Protocol every provider implements, and the plain values it speaks.

The sync consumer, the renewal scheduler and the push worker only know this
Protocol; Google (google-api-python-client) and Graph (msgraph-sdk) adapters
implement it at the edge. Errors are the ``calsync.errors.ProviderError`` tree:
``SyncTokenExpired`` -> full resync, ``RateLimited`` / ``TransientProviderError``
-> retry later, ``AuthorizationRevoked`` -> account in error (never a deletion),
``ResourceGone`` -> the addressed calendar/event no longer exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from channels.model import ExternalEvent, Marker, Provider


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    """Decrypted credentials, held only in memory for the duration of a call."""

    account_id: str
    provider: Provider
    client_id: str
    client_secret: str
    refresh_token: str
    external_account: str = ""  # the mailbox / Google account e-mail


@dataclass(frozen=True, slots=True)
class CalendarRef:
    calendar_id: str  # calsync's id
    external_id: str  # the provider's id
    owner_email: str | None = None  # to find the owner's own attendee response


@dataclass(frozen=True, slots=True)
class ProviderCalendar:
    external_id: str
    name: str
    primary: bool = False
    writable: bool = True
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelGrant:
    """A live push channel as the provider granted it."""

    external_id: str  # Google channel id / Graph subscription id
    resource_id: str | None  # Google resourceId; None for Graph
    expires_at: datetime
    secret: str  # the token / clientState in clear, to be hashed by the caller


@dataclass(frozen=True, slots=True)
class SyncWindow:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class SyncBatch:
    """One page of changes. ``cursor`` is set only on the last page of a pass."""

    events: tuple[ExternalEvent, ...]
    cursor: str | None
    full: bool  # part of a full (re)sync: absence of an event here proves nothing


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What calsync writes for an appointment (already filtered by the profile's privacy settings)."""

    marker: Marker
    title: str
    start: datetime
    end: datetime
    time_zone: str
    all_day: bool = False
    start_date: date | None = None
    end_date: date | None = None
    description: str = ""
    location: str = ""
    recurrence: tuple[str, ...] = ()  # RRULE / EXDATE lines for a series
    tentative: bool = False
    attendees: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class WrittenEvent:
    event_id: str
    etag: str | None


class CalendarAdapter(Protocol):
    provider: Provider

    async def list_calendars(self, account: AccountCredentials) -> list[ProviderCalendar]: ...

    async def watch(
        self, account: AccountCredentials, calendar: CalendarRef, address: str, ttl: timedelta
    ) -> ChannelGrant: ...

    async def renew(
        self,
        account: AccountCredentials,
        calendar: CalendarRef,
        current: ChannelGrant,
        address: str,
        ttl: timedelta,
    ) -> ChannelGrant:
        """Google: a new channel (the caller stops the old one after the overlap). Graph: PATCH."""
        ...

    async def stop(self, account: AccountCredentials, external_id: str, resource_id: str | None) -> None: ...

    def sync(
        self, account: AccountCredentials, calendar: CalendarRef, cursor: str | None, window: SyncWindow
    ) -> AsyncIterator[SyncBatch]:
        """Incremental from ``cursor``, full when None; raises SyncTokenExpired when the cursor is dead."""
        ...

    async def get_event(
        self, account: AccountCredentials, calendar: CalendarRef, event_id: str
    ) -> ExternalEvent | None:
        """The event as it is now; None only when the provider says it does not exist (404/410)."""
        ...

    async def create_event(
        self, account: AccountCredentials, calendar: CalendarRef, draft: EventDraft, idempotency_key: str
    ) -> WrittenEvent:
        """Create once: a retried call with the same key returns the event the first call made."""
        ...

    async def update_event(
        self,
        account: AccountCredentials,
        calendar: CalendarRef,
        event_id: str,
        draft: EventDraft,
        etag: str | None,
    ) -> WrittenEvent: ...

    async def update_instance(
        self,
        account: AccountCredentials,
        calendar: CalendarRef,
        series_event_id: str,
        original_start: datetime,
        draft: EventDraft | None,
    ) -> WrittenEvent | None:
        """Move/edit one occurrence of a series we wrote, or cancel it when ``draft`` is None."""
        ...

    async def delete_event(
        self, account: AccountCredentials, calendar: CalendarRef, event_id: str, etag: str | None
    ) -> None:
        """Idempotent: deleting an event that is already gone succeeds."""
        ...
