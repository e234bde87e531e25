"""The bus contract, run against every implementation (see ``buses`` in conftest)."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from calsync.envelope import dlq_topic
from calsync.errors import PoisonMessage
from daemon.bus import OutgoingRecord, Record, partition_for
from tests.bus.conftest import MAX_ATTEMPTS, PARTITIONS, BusFactory, Collector, wait_until


async def test_roundtrip_with_headers(buses: BusFactory) -> None:
    seen = Collector()
    bus = buses.new()
    bus.subscribe(buses.topic, buses.group, seen)
    await bus.start()
    await bus.publish(buses.topic, "cal-1", b'{"x":1}', {"message-id": "m1", "trace": "abc"})
    await seen.wait_for(1)
    (record,) = seen.records
    assert (record.topic, record.key, record.value) == (buses.topic, "cal-1", b'{"x":1}')
    assert record.headers["message-id"] == "m1" and record.headers["trace"] == "abc"
    assert record.partition == partition_for("cal-1", PARTITIONS)
    assert (await bus.health()).ok


async def test_per_key_order_across_partitions(buses: BusFactory) -> None:
    rng = random.Random(7)

    class Slow(Collector):
        async def behave(self, record: Record) -> None:
            if rng.random() < 0.1:
                await asyncio.sleep(0.005)  # interleave partitions

    seen = Slow()
    bus = buses.new()
    bus.subscribe(buses.topic, buses.group, seen)
    await bus.start()
    keys = [f"cal-{i}" for i in range(40)]
    sent: list[OutgoingRecord] = []
    for seq in range(10):
        for key in rng.sample(keys, len(keys)):
            sent.append(OutgoingRecord(buses.topic, key, f"{key}:{seq}".encode()))
    for start in range(0, len(sent), 50):
        await bus.publish_many(sent[start : start + 50])
    await seen.wait_for(len(sent))
    assert {r.partition for r in seen.records} == set(range(PARTITIONS))
    by_key: dict[str, list[int]] = defaultdict(list)
    by_partition: dict[int, list[int]] = defaultdict(list)
    for r in seen.records:
        by_key[r.key].append(int(r.value.decode().rsplit(":", 1)[1]))
        by_partition[r.partition].append(r.offset)
        assert r.partition == partition_for(r.key, PARTITIONS)
    assert all(seqs == list(range(10)) for seqs in by_key.values()), "per-key order broken"
    assert all(offs == sorted(offs) for offs in by_partition.values())
    assert len(seen.records) == len(sent)


async def test_two_consumers_share_partitions_exactly_once(buses: BusFactory) -> None:
    first, second = Collector("a"), Collector("b")
    bus_a, bus_b = buses.new(), buses.new()
    bus_a.subscribe(buses.topic, buses.group, first)
    bus_b.subscribe(buses.topic, buses.group, second)
    await bus_a.start()
    await bus_b.start()

    def split() -> bool:
        a = bus_a.assignment().get((buses.group, buses.topic), frozenset())
        b = bus_b.assignment().get((buses.group, buses.topic), frozenset())
        return bool(a) and bool(b) and not (a & b) and len(a | b) == PARTITIONS

    await wait_until(split, timeout=40)
    count = 200
    await bus_a.publish_many([OutgoingRecord(buses.topic, f"k{i}", str(i).encode()) for i in range(count)])
    await wait_until(lambda: len(first.records) + len(second.records) >= count)
    await asyncio.sleep(0.3)  # nothing more should come
    values = [r.value for r in first.records + second.records]
    assert sorted(values) == sorted(str(i).encode() for i in range(count))
    assert first.records and second.records, "both members should get partitions"
    assert {r.partition for r in first.records}.isdisjoint({r.partition for r in second.records})


async def test_uncommitted_records_redelivered_after_crash(buses: BusFactory) -> None:
    key = "cal-crash"
    stuck = asyncio.Event()

    class Crashing(Collector):
        async def behave(self, record: Record) -> None:
            if record.value == b"5":
                stuck.set()
                await asyncio.Event().wait()  # hangs until the "process" dies

    victim, survivor = Crashing("victim"), Collector("survivor")
    bus_a = buses.new()
    bus_a.subscribe(buses.topic, buses.group, victim)
    await bus_a.start()
    await bus_a.publish_many([OutgoingRecord(buses.topic, key, str(i).encode()) for i in range(10)])
    async with asyncio.timeout(30):
        await stuck.wait()
    assert [r.value for r in victim.records] == [str(i).encode() for i in range(5)]

    bus_b = buses.new()
    bus_b.subscribe(buses.topic, buses.group, survivor)
    await bus_b.start()
    await bus_a.terminate()  # kill: the record in flight (5) was never committed
    await survivor.wait_for(5, timeout=45)
    assert [r.value for r in survivor.records] == [str(i).encode() for i in range(5, 10)]


async def test_failing_handler_retries_then_dead_letters(buses: BusFactory) -> None:
    class Flaky(Collector):
        async def behave(self, record: Record) -> None:
            tries = self.attempts[(record.partition, record.offset)]
            if record.value == b"flaky" and tries < MAX_ATTEMPTS:
                raise RuntimeError(f"transient {tries}")
            if record.value == b"bad":
                raise ValueError("x" * 2000)

    seen, parked = Flaky(), Collector("dlq")
    bus = buses.new()
    bus.subscribe(buses.topic, buses.group, seen)
    bus.subscribe(dlq_topic(buses.topic), buses.group + ".dlq", parked)
    await bus.start()
    values = [b"1", b"flaky", b"2", b"bad", b"3"]
    await bus.publish_many(
        [OutgoingRecord(buses.topic, "same-key", v, {"message-id": v.decode()}) for v in values]
    )
    await seen.wait_for(4)
    await parked.wait_for(1)
    assert [r.value for r in seen.records] == [b"1", b"flaky", b"2", b"3"]
    (dead,) = parked.records
    bad_offset = seen.records[2].offset + 1
    assert dead.value == b"bad" and dead.key == "same-key"
    assert dead.headers["error"].startswith("ValueError: xxx") and len(dead.headers["error"]) <= 500
    assert dead.headers["attempts"] == str(MAX_ATTEMPTS)
    assert dead.headers["original-topic"] == buses.topic
    assert dead.headers["original-partition"] == str(partition_for("same-key", PARTITIONS))
    assert dead.headers["original-offset"] == str(bad_offset)
    assert dead.headers["message-id"] == "bad"
    assert seen.attempts[(seen.records[0].partition, bad_offset)] == MAX_ATTEMPTS


async def test_poison_message_dead_lettered_at_once(buses: BusFactory) -> None:
    class Picky(Collector):
        async def behave(self, record: Record) -> None:
            if record.value == b"poison":
                raise PoisonMessage("not JSON")

    seen, parked = Picky(), Collector("dlq")
    bus = buses.new()
    bus.subscribe(buses.topic, buses.group, seen)
    bus.subscribe(dlq_topic(buses.topic), buses.group + ".dlq", parked)
    await bus.start()
    await bus.publish_many([OutgoingRecord(buses.topic, "k", v) for v in (b"poison", b"ok")])
    await seen.wait_for(1)
    await parked.wait_for(1)
    assert parked.records[0].headers["attempts"] == "1"
    assert parked.records[0].headers["error"] == "PoisonMessage: not JSON"
    assert sum(seen.attempts.values()) == 2  # poison tried once, "ok" once


async def test_graceful_stop_commits_in_flight(buses: BusFactory) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    class Blocking(Collector):
        async def behave(self, record: Record) -> None:
            if record.value == b"3":
                entered.set()
                await release.wait()

    first = Blocking()
    bus = buses.new()
    bus.subscribe(buses.topic, buses.group, first)
    await bus.start()
    await bus.publish_many([OutgoingRecord(buses.topic, "k", str(i).encode()) for i in range(8)])
    async with asyncio.timeout(30):
        await entered.wait()
    stopping = asyncio.create_task(bus.stop())
    await asyncio.sleep(0.3)
    assert not stopping.done(), "stop() must wait for the handler in flight"
    release.set()
    async with asyncio.timeout(20):
        await stopping
    assert [r.value for r in first.records] == [b"0", b"1", b"2", b"3"]

    after = Collector("after")
    bus2 = buses.new()
    bus2.subscribe(buses.topic, buses.group, after)
    await bus2.start()
    await after.wait_for(4, timeout=40)
    await asyncio.sleep(0.2)
    assert [r.value for r in after.records] == [b"4", b"5", b"6", b"7"], "in-flight record was not committed"


async def test_publish_many_empty_and_health(buses: BusFactory) -> None:
    bus = buses.new()
    await bus.start()
    await bus.publish_many([])
    health = await bus.health()
    assert health.ok, health.detail
