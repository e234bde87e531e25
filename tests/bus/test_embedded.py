"""What only the embedded bus has: offset allocation under concurrency, purging, lease arithmetic."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import func, select

from calsync.clock import FakeClock, SystemClock
from daemon.bus import EmbeddedBus, OutgoingRecord
from daemon.bus.delivery import ERROR_HEADER_MAX, describe_error
from daemon.bus.embedded_consumer import fair_share
from store.db import Database
from store.tables import BusRecord
from tests.bus.conftest import Collector, embedded_options


def test_fair_share_splits_evenly_remainder_to_lowest_ids() -> None:
    members = ["a", "b", "c"]
    assert [fair_share(8, members, m) for m in members] == [3, 3, 2]
    assert fair_share(4, [], "solo") == 4
    assert fair_share(4, ["b"], "a") == 2  # not yet visible in the table: counts itself


def test_error_header_is_truncated() -> None:
    assert len(describe_error(ValueError("x" * 5000))) == ERROR_HEADER_MAX
    assert describe_error(KeyError("k")) == "KeyError: 'k'"


async def _offsets(db: Database, topic: str) -> dict[int, list[int]]:
    async with db.session() as s:
        rows = (
            await s.exec(select(BusRecord.partition, BusRecord.offset).where(BusRecord.topic == topic))  # type: ignore[call-overload]
        ).all()
    by_partition: dict[int, list[int]] = defaultdict(list)
    for partition, offset in rows:
        by_partition[partition].append(offset)
    return by_partition


async def test_concurrent_publishers_get_dense_unique_offsets(database_url: str) -> None:
    """Two "processes" (separate engines) publish to the same partitions at once."""
    dbs = [Database(database_url), Database(database_url)]
    buses = [EmbeddedBus(db, SystemClock(), embedded_options()) for db in dbs]
    try:

        async def burst(bus: EmbeddedBus, tag: str) -> None:
            for i in range(40):
                await bus.publish_many(
                    [OutgoingRecord("t.conc", f"k{j}", f"{tag}{i}".encode()) for j in range(3)]
                )

        await asyncio.gather(burst(buses[0], "a"), burst(buses[1], "b"))
        offsets = await _offsets(dbs[0], "t.conc")
        assert sum(len(v) for v in offsets.values()) == 240
        assert all(sorted(v) == list(range(len(v))) for v in offsets.values()), "gaps or duplicates"
    finally:
        for db in dbs:
            await db.close()


async def test_purge_drops_consumed_records_but_keeps_offsets_growing(database: Database) -> None:
    clock = FakeClock()
    bus = EmbeddedBus(database, clock, embedded_options(partitions=1, purge_interval=3600))
    seen = Collector()
    bus.subscribe("t.purge", "g", seen)
    await bus.start()
    try:
        await bus.publish_many([OutgoingRecord("t.purge", "k", str(i).encode()) for i in range(10)])
        await seen.wait_for(10)
        await asyncio.sleep(0.1)  # let the last commit land
        assert await bus.purge_once() == 9  # the newest record stays: it carries the offset counter
        await bus.publish("t.purge", "k", b"10")
        await seen.wait_for(11)
        assert seen.records[-1].offset == 10
        assert sorted((await _offsets(database, "t.purge"))[0]) == [9, 10]
    finally:
        await bus.stop()


async def test_purge_keeps_unconsumed_records_until_retention(database: Database) -> None:
    clock = FakeClock()
    bus = EmbeddedBus(database, clock, embedded_options(partitions=1, retention=timedelta(days=7)))
    await bus.publish_many([OutgoingRecord("t.nobody", "k", b"x") for _ in range(5)])
    assert await bus.purge_once() == 0
    clock.advance(timedelta(days=8))
    assert await bus.purge_once() == 4
    async with database.session() as s:
        count = (await s.exec(select(func.count()).select_from(BusRecord))).one()  # type: ignore[call-overload]
    assert tuple(count) == (1,)


async def test_lag_counts_published_but_uncommitted_records(database: Database) -> None:
    producer = EmbeddedBus(database, SystemClock(), embedded_options())
    await producer.publish_many([OutgoingRecord("lagging", f"k{i}", b"v") for i in range(7)])
    collector = Collector()
    bus = EmbeddedBus(database, SystemClock(), embedded_options())
    bus.subscribe("lagging", "g", collector)
    assert await bus.lag() == {("g", "lagging"): 7}  # nobody has consumed anything yet
    await bus.start()
    try:
        await collector.wait_for(7)
        async with asyncio.timeout(10):
            while (await bus.lag())[("g", "lagging")] != 0:
                await asyncio.sleep(0.05)
    finally:
        await bus.stop()
        await producer.stop()
