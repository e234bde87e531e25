"""Direct looks at the provider, between the reconciler's two transactions for one change.

- ``verify``: a tombstone that needs confirming (Graph ``@removed`` of one of our events):
  GET it; 404/410 confirms the deletion, a live event is reconciled as such.
- ``elsewhere``: a Google ``cancelled`` entry of one of our events while other profiles'
  push calendars exist (``LookElsewhere``). ``events.move`` keeps the event id and makes
  the source list the event as cancelled, with no order against the destination's own
  sync (another bus key). So GET the id on every candidate first, then the tombstoned
  event at its source: found live with our marker on a candidate = a calendar change;
  live again at the source = a stale tombstone (a revert already put it back); else gone.

The order matters: the push worker writes the push calendar before it deletes a stray
copy elsewhere (``push_plan``), so our event is never missing from both at once; looking
at the candidates first and the source last therefore never sees "nowhere" for an event
that is merely being moved back.

Errors: a transient provider error re-raises (the bus retries the change in place; nothing
was decided). A calendar that cannot be read (account inactive or revoked, permanent error)
tells nothing: a candidate is skipped (its own sync could not see a move either), and an
unreadable source leaves the explicit tombstone standing.
"""

from __future__ import annotations

import asyncio
from typing import Final

import structlog

from calsync.crypto import Cipher
from calsync.errors import (
    AuthorizationRevoked,
    PermanentProviderError,
    ProviderError,
    SecretsError,
    TransientProviderError,
)
from channels.base import CalendarRef
from channels.model import ExternalEvent
from handlers.adapters import AdapterRegistry
from handlers.reconcile_rules import LookElsewhere
from store import accounts, calendars
from store.db import Database

log = structlog.get_logger("calsync.reconcile")

CONCURRENCY: Final = 8  # candidate GETs in flight per look (the adapters also pace each account)


class _Unreadable(Exception):
    """The calendar cannot be asked now (gone, account inactive, revoked or permanent error)."""


class ProviderLook:
    def __init__(self, db: Database, adapters: AdapterRegistry, cipher: Cipher) -> None:
        self._db, self._adapters, self._cipher = db, adapters, cipher

    async def _get(self, calendar_id: str, event_id: str) -> ExternalEvent | None:
        """The event as the provider has it now; None = 404/410. _Unreadable when we cannot ask."""
        async with self._db.session() as session:
            calendar = await calendars.get_calendar(session, calendar_id)
            account = await accounts.get_account(session, calendar.account_id) if calendar else None
        if calendar is None or account is None or account.state != "active":
            raise _Unreadable(f"calendar {calendar_id} or its account is not usable")
        try:
            credentials = accounts.credentials(account, self._cipher)
            ref = CalendarRef(calendar.id, calendar.external_id, account.external_account or None)
            return await self._adapters.get(account.provider).get_event(credentials, ref, event_id)
        except TransientProviderError:
            raise  # the bus retries in place; nothing was decided
        except (AuthorizationRevoked, PermanentProviderError, SecretsError, ProviderError) as err:
            log.warning("provider_look_failed", calendar_id=calendar_id, error=type(err).__name__)
            raise _Unreadable(str(err)) from err

    async def verify(self, event: ExternalEvent) -> ExternalEvent | bool | None:
        """Direct GET: True = gone (404/410), the live event, or None when we cannot tell."""
        try:
            current = await self._get(event.calendar_id, event.event_id)
        except _Unreadable:
            return None
        return True if current is None else current

    async def elsewhere(self, event: ExternalEvent, look: LookElsewhere) -> ExternalEvent | None:
        """Our event live on a candidate, or live again at the source; None = gone from all."""
        gate = asyncio.Semaphore(CONCURRENCY)

        async def ours_on(calendar_id: str) -> ExternalEvent | None:
            async with gate:
                try:
                    found = await self._get(calendar_id, look.event_id)
                except _Unreadable:
                    return None
            marker = found.marker if found is not None else None
            if found is None or found.is_tombstone or marker is None:
                return None
            return found if marker.appointment_id == look.appointment_id else None

        tasks = [asyncio.ensure_future(ours_on(c)) for c in look.calendars]
        try:
            hits = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for hit in hits:
            if hit is not None:
                log.info(
                    "moved_event_found", from_calendar=event.calendar_id, to_calendar=hit.calendar_id,
                    event_id=hit.event_id, appointment_id=look.appointment_id,
                )  # fmt: skip
                return hit
        try:
            current = await self._get(event.calendar_id, event.event_id)
        except _Unreadable:
            return None
        return current if current is not None and not current.is_tombstone else None
