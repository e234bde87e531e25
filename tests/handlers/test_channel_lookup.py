"""ChannelLookup: webhook verification reads channel rows once per TTL, never caching unknown ones."""

from __future__ import annotations

from datetime import timedelta

from calsync.clock import FakeClock
from handlers.webhooks.channel_lookup import NOTIFIED_EVERY, TTL, ChannelLookup
from store import channels as channel_store
from store.db import Database
from store.tables import Channel
from tests.graph.seed import seed_calendar, seed_channel


async def test_rows_are_cached_for_the_ttl_and_unknown_ids_never(database: Database) -> None:
    clock = FakeClock()
    _, cal = await seed_calendar(database, clock.now())
    lookup = ChannelLookup("microsoft", clock)
    async with database.session() as s:
        assert await lookup.find(s, "sub-new") is None  # not there yet...
    channel = await seed_channel(database, cal, "sub-new", "s" * 43, clock.now())
    async with database.session() as s:
        found = await lookup.find(s, "sub-new")  # ...and found as soon as it is committed
        assert found is not None and found.id == channel and found.state == "active"
        await channel_store.mark_stopped(s, channel, clock.now())
    async with database.session() as s:
        cached = await lookup.find(s, "sub-new")
        assert cached is not None and cached.state == "active"  # within the TTL: the snapshot
    await clock.sleep(TTL.total_seconds())
    async with database.session() as s:
        fresh = await lookup.find(s, "sub-new")
        assert fresh is not None and fresh.state == "stopped"


async def test_last_notification_is_written_at_most_once_a_second(database: Database) -> None:
    clock = FakeClock()
    _, cal = await seed_calendar(database, clock.now())
    channel = await seed_channel(database, cal, "sub-1", "s" * 43, clock.now())
    lookup = ChannelLookup("microsoft", clock)

    async def notified_at() -> object:
        async with database.session() as s:
            row = await s.get(Channel, channel)
            assert row is not None
            return row.last_notification_at

    first = clock.now()
    async with database.session() as s:
        await lookup.mark_notified(s, {channel}, first)
    await clock.sleep(0.5)
    async with database.session() as s:
        await lookup.mark_notified(s, {channel}, clock.now())
    assert await notified_at() == first
    await clock.sleep(NOTIFIED_EVERY.total_seconds())
    async with database.session() as s:
        await lookup.mark_notified(s, {channel}, clock.now())
    assert await notified_at() == first + timedelta(seconds=0.5) + NOTIFIED_EVERY
