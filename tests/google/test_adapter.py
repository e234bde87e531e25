"""GoogleAdapter against the Google emulator, through the real google-api-python-client."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from calsync.clock import SystemClock
from calsync.errors import AuthorizationRevoked, PreconditionFailed, SyncTokenExpired
from channels.base import AccountCredentials, CalendarRef, EventDraft, SyncBatch, SyncWindow
from channels.emulators.google import GoogleEmulator
from channels.google.adapter import GoogleAdapter
from channels.google.wire import client_event_id
from channels.model import EventStatus, Marker
from channels.throttle import Backoff

from .conftest import USER


def window() -> SyncWindow:
    now = datetime.now(UTC)
    return SyncWindow(now - timedelta(days=30), now + timedelta(days=365))


def draft(appointment: str = "appt-1", hour: int = 10, **extra: object) -> EventDraft:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1, hours=hour - 9)
    return EventDraft(
        marker=Marker(appointment, 1),
        title="Consultation",
        start=start,
        end=start + timedelta(hours=1),
        time_zone="Europe/Berlin",
        **extra,  # type: ignore[arg-type]
    )


async def collect(
    adapter: GoogleAdapter, account: AccountCredentials, calendar: CalendarRef, cursor: str | None
) -> list[SyncBatch]:
    return [batch async for batch in adapter.sync(account, calendar, cursor, window())]


def seed(emulator: GoogleEmulator, summary: str, days: int = 1, **extra: object) -> dict[str, object]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    body = {
        "summary": summary,
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        **extra,
    }
    return emulator.seed_event(USER, body)


async def test_full_then_incremental_sync_pages_until_the_sync_token(
    emulator: GoogleEmulator, base_url: str, account: AccountCredentials, calendar: CalendarRef
) -> None:
    adapter = GoogleAdapter(f"{base_url}/calendar/v3", f"{base_url}/token", SystemClock(), page_size=2)
    for i in range(5):
        seed(emulator, f"e{i}")
    batches = await collect(adapter, account, calendar, None)
    assert [len(b.events) for b in batches] == [2, 2, 1]
    assert [b.cursor is not None for b in batches] == [False, False, True]
    assert all(b.full for b in batches)
    cursor = batches[-1].cursor
    moved = seed(emulator, "new")
    again = await collect(adapter, account, calendar, cursor)
    assert [e.event_id for b in again for e in b.events] == [moved["id"]]
    assert not again[-1].full and again[-1].cursor


async def test_410_raises_sync_token_expired(
    emulator: GoogleEmulator, adapter: GoogleAdapter, account: AccountCredentials, calendar: CalendarRef
) -> None:
    cursor = (await collect(adapter, account, calendar, None))[-1].cursor
    emulator.invalidate_sync_tokens(USER)
    with pytest.raises(SyncTokenExpired):
        await collect(adapter, account, calendar, cursor)


async def test_deletion_arrives_as_a_tombstone(
    emulator: GoogleEmulator, adapter: GoogleAdapter, account: AccountCredentials, calendar: CalendarRef
) -> None:
    cursor = (await collect(adapter, account, calendar, None))[-1].cursor
    written = await adapter.create_event(account, calendar, draft(), "appt-1")
    await adapter.delete_event(account, calendar, written.event_id, None)
    events = [e for b in await collect(adapter, account, calendar, cursor) for e in b.events]
    assert [(e.event_id, e.status) for e in events] == [(written.event_id, EventStatus.CANCELLED)]


async def test_create_is_idempotent_and_adopts_on_409(
    adapter: GoogleAdapter, account: AccountCredentials, calendar: CalendarRef
) -> None:
    first = await adapter.create_event(account, calendar, draft(), "appt-7")
    second = await adapter.create_event(account, calendar, draft(), "appt-7")
    assert first.event_id == second.event_id == client_event_id("appt-7")
    event = await adapter.get_event(account, calendar, first.event_id)
    assert event is not None and event.marker == Marker("appt-1", 1)


async def test_update_with_if_match_and_stale_etag(
    adapter: GoogleAdapter, account: AccountCredentials, calendar: CalendarRef
) -> None:
    written = await adapter.create_event(account, calendar, draft(), "appt-2")
    updated = await adapter.update_event(account, calendar, written.event_id, draft(hour=14), written.etag)
    assert updated.etag != written.etag
    with pytest.raises(PreconditionFailed):
        await adapter.update_event(account, calendar, written.event_id, draft(hour=15), written.etag)


async def test_instance_update_and_cancel(
    adapter: GoogleAdapter, account: AccountCredentials, calendar: CalendarRef
) -> None:
    series = draft(recurrence=("RRULE:FREQ=DAILY;COUNT=5",))
    written = await adapter.create_event(account, calendar, series, "series-1")
    second = series.start + timedelta(days=1)
    moved = draft(hour=16)
    result = await adapter.update_instance(account, calendar, written.event_id, second, moved)
    assert result is not None and result.event_id != written.event_id
    assert (
        await adapter.update_instance(account, calendar, written.event_id, second + timedelta(days=1), None)
        is None
    )
    instance = await adapter.get_event(account, calendar, result.event_id)
    assert instance is not None and instance.series_id == written.event_id
    assert instance.original_start == second


async def test_delete_is_idempotent(
    adapter: GoogleAdapter, account: AccountCredentials, calendar: CalendarRef
) -> None:
    written = await adapter.create_event(account, calendar, draft(), "appt-3")
    await adapter.delete_event(account, calendar, written.event_id, None)
    await adapter.delete_event(account, calendar, written.event_id, None)
    await adapter.delete_event(account, calendar, "nosuchevent0", None)


@pytest.mark.parametrize(
    "kind", ["rateLimitExceeded", "rateLimitExceeded429", "userRateLimitExceeded", "backendError"]
)
async def test_quota_and_server_errors_are_retried(
    emulator: GoogleEmulator,
    adapter: GoogleAdapter,
    account: AccountCredentials,
    calendar: CalendarRef,
    kind: str,
) -> None:
    emulator.inject_errors(kind, count=2)
    written = await adapter.create_event(account, calendar, draft(), f"retry-{kind}")
    assert await adapter.get_event(account, calendar, written.event_id) is not None


async def test_invalid_grant_is_authorization_revoked(
    emulator: GoogleEmulator, adapter: GoogleAdapter, account: AccountCredentials, calendar: CalendarRef
) -> None:
    emulator.revoke_refresh_token(account.refresh_token)
    with pytest.raises(AuthorizationRevoked):
        await collect(adapter, account, calendar, None)


async def test_watch_then_stop(
    emulator: GoogleEmulator,
    adapter: GoogleAdapter,
    account: AccountCredentials,
    calendar: CalendarRef,
    base_url: str,
) -> None:
    grant = await adapter.watch(account, calendar, f"{base_url}/nowhere", timedelta(hours=2))
    assert grant.resource_id and len(grant.secret) >= 43  # 32 random bytes, url-safe
    assert timedelta(hours=1, minutes=59) < grant.expires_at - datetime.now(UTC) <= timedelta(hours=2)
    other = await adapter.watch(account, calendar, f"{base_url}/nowhere", timedelta(hours=2))
    assert other.external_id != grant.external_id and other.secret != grant.secret
    await adapter.stop(account, grant.external_id, grant.resource_id)
    await adapter.stop(account, grant.external_id, grant.resource_id)  # already stopped: fine
    await emulator.wait_idle()


async def test_bucket_paces_calls_per_account(
    base_url: str, account: AccountCredentials, calendar: CalendarRef
) -> None:
    adapter = GoogleAdapter(
        f"{base_url}/calendar/v3", f"{base_url}/token", SystemClock(),
        rate_per_second=20.0, burst=2.0, backoff=Backoff(0.01, 0.05), rng=random.Random(2),
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(adapter.get_event(account, calendar, f"missing{i:04d}") for i in range(12)))
    assert loop.time() - started >= (12 - 2) / 20.0 * 0.9
