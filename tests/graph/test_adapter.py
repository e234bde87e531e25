"""GraphAdapter against the Graph emulator through the real msgraph-sdk (providers.md §3, §4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from calsync.clock import FakeClock
from calsync.errors import AuthorizationRevoked, SyncTokenExpired
from channels.base import AccountCredentials, CalendarRef, EventDraft, SyncBatch, SyncWindow
from channels.emulators.graph import GraphEmulator, SeededUser
from channels.graph.adapter import GraphAdapter
from channels.graph.errors import SubscriptionValidationFailed
from channels.model import EventStatus, ExternalEvent, Marker

WINDOW = SyncWindow(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))


def when(day: int, hour: int, month: int = 1) -> dict[str, str]:
    return {"dateTime": f"2026-{month:02d}-{day:02d}T{hour:02d}:00:00", "timeZone": "UTC"}


def seed(emulator: GraphEmulator, user: SeededUser, subject: str, day: int, **extra: Any) -> str:
    return emulator.seed_event(
        user.id, {"subject": subject, "start": when(day, 9), "end": when(day, 10), **extra}
    )


async def collect(
    adapter: GraphAdapter, account: AccountCredentials, calendar: CalendarRef, cursor: str | None
) -> tuple[list[ExternalEvent], str]:
    events: list[ExternalEvent] = []
    batches: list[SyncBatch] = []
    async for batch in adapter.sync(account, calendar, cursor, WINDOW):
        batches.append(batch)
        events += batch.events
    assert batches[-1].cursor and all(b.cursor is None for b in batches[:-1])
    return events, batches[-1].cursor


def draft(title: str = "Consultation", version: int = 1, **extra: Any) -> EventDraft:
    return EventDraft(
        marker=Marker("appt-1", version),
        title=title,
        start=datetime(2026, 1, 7, 14, tzinfo=UTC),
        end=datetime(2026, 1, 7, 15, tzinfo=UTC),
        time_zone="Europe/Berlin",
        **extra,
    )


async def test_full_then_incremental_sync(
    adapter: GraphAdapter,
    account: AccountCredentials,
    calendar: CalendarRef,
    emulator: GraphEmulator,
    user: SeededUser,
) -> None:
    keep, gone, leaving = (
        seed(emulator, user, "Keep", 6),
        seed(emulator, user, "Gone", 7),
        seed(emulator, user, "Leaving", 8),
    )
    events, cursor = await collect(adapter, account, calendar, None)
    assert {e.event_id for e in events} == {keep, gone, leaving}
    assert all(e.calendar_id == "cal-1" and e.start and e.start.tzinfo is UTC for e in events)

    emulator.patch_event(user.id, keep, {"showAs": "free"})
    emulator.delete_event(user.id, gone)
    emulator.patch_event(user.id, leaving, {"start": when(2, 9, 5), "end": when(2, 10, 5)})
    events, cursor = await collect(adapter, account, calendar, cursor)
    by_id = {e.event_id: e for e in events}
    assert by_id[keep].transparent and not by_id[keep].blocks_time
    # A real deletion is a confirmed tombstone; an event that only left the window stays alive.
    assert by_id[gone].status is EventStatus.CANCELLED and not by_id[gone].verify_deletion
    assert by_id[leaving].status is EventStatus.CONFIRMED and by_id[leaving].start == datetime(
        2026, 5, 2, 9, tzinfo=UTC
    )

    emulator.replay_delta_changes(2)  # Graph may replay: the pass is still correct
    events, _ = await collect(adapter, account, calendar, cursor)
    assert {e.event_id for e in events} <= {keep, gone, leaving}


@pytest.mark.parametrize("mode", ["gone", "sync_state_not_found"])
async def test_dead_delta_link_is_sync_token_expired(
    adapter: GraphAdapter,
    account: AccountCredentials,
    calendar: CalendarRef,
    emulator: GraphEmulator,
    user: SeededUser,
    mode: Any,
) -> None:
    seed(emulator, user, "A", 6)
    _, cursor = await collect(adapter, account, calendar, None)
    emulator.invalidate_delta_tokens(user.id, mode=mode)
    with pytest.raises(SyncTokenExpired):
        await collect(adapter, account, calendar, cursor)


async def test_writes_idempotent_create_marker_update_delete(
    adapter: GraphAdapter, account: AccountCredentials, calendar: CalendarRef
) -> None:
    first = await adapter.create_event(account, calendar, draft(), "appt-1:v1")
    again = await adapter.create_event(account, calendar, draft(), "appt-1:v1")
    assert again.event_id == first.event_id  # transactionId made the retry a no-op
    got = await adapter.get_event(account, calendar, first.event_id)
    assert got is not None and got.marker == Marker("appt-1", 1)
    assert got.start == datetime(2026, 1, 7, 14, tzinfo=UTC)
    updated = await adapter.update_event(account, calendar, first.event_id, draft("Moved", 2), first.etag)
    got = await adapter.get_event(account, calendar, updated.event_id)
    assert got is not None and got.marker == Marker("appt-1", 2)
    await adapter.delete_event(account, calendar, first.event_id, None)
    await adapter.delete_event(account, calendar, first.event_id, None)  # already gone: fine
    assert await adapter.get_event(account, calendar, first.event_id) is None


async def test_update_and_cancel_instances(
    adapter: GraphAdapter, account: AccountCredentials, calendar: CalendarRef
) -> None:
    series = await adapter.create_event(
        account, calendar, draft(recurrence=("RRULE:FREQ=DAILY;COUNT=4",)), "appt-1:series"
    )
    second = datetime(2026, 1, 8, 14, tzinfo=UTC)
    moved = EventDraft(
        marker=Marker("appt-1", 1, "20260108T140000Z"), title="Moved one",
        start=second + timedelta(hours=2), end=second + timedelta(hours=3), time_zone="UTC",
    )  # fmt: skip
    written = await adapter.update_instance(account, calendar, series.event_id, second, moved)
    assert written is not None
    got = await adapter.get_event(account, calendar, written.event_id)
    assert got is not None and got.start == second + timedelta(hours=2) and got.original_start == second
    assert (
        await adapter.update_instance(
            account, calendar, series.event_id, datetime(2026, 1, 9, 14, tzinfo=UTC), None
        )
        is None
    )
    events: list[ExternalEvent] = []
    async for batch in adapter.sync(account, calendar, None, WINDOW):
        events += batch.events
    assert len([e for e in events if e.series_id == series.event_id]) == 3


async def test_token_cached_and_rotation_persisted(
    adapter: GraphAdapter,
    account: AccountCredentials,
    calendar: CalendarRef,
    rotated: list[tuple[str, str]],
    clock: FakeClock,
) -> None:
    await adapter.list_calendars(account)
    await adapter.list_calendars(account)
    credential = adapter.client.credential(account)
    assert credential.refreshes == 1 and rotated and rotated[0][0] == "acct-1"
    clock.advance(timedelta(minutes=58))  # inside the 5-minute margin before the 1 h expiry
    await adapter.list_calendars(account)
    assert credential.refreshes == 2 and len(rotated) == 2


async def test_revoked_consent_is_authorization_revoked(
    adapter: GraphAdapter, account: AccountCredentials, emulator: GraphEmulator, user: SeededUser
) -> None:
    emulator.revoke(user.id)
    with pytest.raises(AuthorizationRevoked):
        await adapter.list_calendars(account)


async def test_429_storm_honours_retry_after(
    adapter: GraphAdapter,
    account: AccountCredentials,
    emulator: GraphEmulator,
    user: SeededUser,
    clock: FakeClock,
) -> None:
    await adapter.list_calendars(account)
    before, requests = clock.monotonic(), emulator.counters.requests[user.id]
    emulator.inject_429(user.id, count=3, retry_after_s=7)
    assert len(await adapter.list_calendars(account)) == 1
    # Exactly one layer retried (kiota's RetryHandler is off): 3 refusals + 1 success.
    assert emulator.counters.requests[user.id] - requests == 4
    assert clock.monotonic() - before >= 21


async def test_at_most_four_requests_in_flight_per_mailbox(
    adapter: GraphAdapter,
    account: AccountCredentials,
    calendar: CalendarRef,
    emulator: GraphEmulator,
    user: SeededUser,
) -> None:
    ids = [seed(emulator, user, f"E{i}", 6) for i in range(12)]
    emulator.request_faults.latency_s = 0.02
    got = await asyncio.gather(*(adapter.get_event(account, calendar, i) for i in ids))
    assert all(g is not None for g in got)
    assert emulator.counters.peak_concurrency[user.id] <= 4


async def test_watch_renew_reauthorize_stop(
    adapter: GraphAdapter,
    account: AccountCredentials,
    calendar: CalendarRef,
    emulator: GraphEmulator,
    aiohttp_server: Any,
    clock: FakeClock,
) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=request.query.get("validationToken", ""), content_type="text/plain")

    app = web.Application()
    app.router.add_post("/webhooks/graph", echo)
    app.router.add_post("/webhooks/graph/lifecycle", echo)
    server = await aiohttp_server(app, host="127.0.0.1")
    address = str(server.make_url("/webhooks/graph"))
    grant = await adapter.watch(account, calendar, address, timedelta(days=30))
    sub = emulator.subscriptions[grant.external_id]
    assert sub.resource.lower() in ("/me/events", "me/events")
    assert sub.lifecycle_url == address + "/lifecycle" and len(grant.secret) >= 43
    assert grant.expires_at <= clock.now() + timedelta(minutes=10_080)
    clock.advance(timedelta(days=2))
    renewed = await adapter.renew(account, calendar, grant, address, timedelta(days=30))
    assert renewed.external_id == grant.external_id and renewed.expires_at > grant.expires_at
    await adapter.reauthorize(account, grant.external_id)
    await adapter.stop(account, grant.external_id, None)
    await adapter.stop(account, grant.external_id, None)  # 404: already gone is fine
    assert grant.external_id not in emulator.subscriptions
    replaced = await adapter.renew(account, calendar, grant, address, timedelta(days=1))
    assert replaced.external_id != grant.external_id  # vanished subscription: a new one


async def test_failed_validation_is_a_clear_channel_error(
    adapter: GraphAdapter, account: AccountCredentials, calendar: CalendarRef, aiohttp_server: Any
) -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>nope</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/webhooks/graph", html)
    server = await aiohttp_server(app, host="127.0.0.1")
    with pytest.raises(SubscriptionValidationFailed, match="CALSYNC_PUBLIC_URL"):
        await adapter.watch(account, calendar, str(server.make_url("/webhooks/graph")), timedelta(days=3))


async def test_drifted_delta_window_is_rolled_by_a_full_resync(
    adapter: GraphAdapter,
    account: AccountCredentials,
    calendar: CalendarRef,
    emulator: GraphEmulator,
    user: SeededUser,
) -> None:
    _, cursor = await collect(adapter, account, calendar, None)
    later = emulator.seed_event(
        user.id, {"subject": "Beyond", "start": when(10, 9, 3), "end": when(10, 10, 3)}
    )
    # Two days on, the wanted window ends past the one the delta link was opened for.
    moved = SyncWindow(WINDOW.start + timedelta(days=2), WINDOW.end + timedelta(days=12))
    with pytest.raises(SyncTokenExpired):
        async for _ in adapter.sync(account, calendar, cursor, moved):
            pass
    events = [e async for batch in adapter.sync(account, calendar, None, moved) for e in batch.events]
    assert later in {e.event_id for e in events}
