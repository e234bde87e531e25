"""The outbox relay: in order, at least once, and nothing lost while the broker is down."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime

import pytest

from calsync.clock import SystemClock
from calsync.envelope import Envelope
from daemon.bus import EmbeddedBus, KafkaBus, OutboxRelay
from daemon.bus.relay import backoff_delay
from store.db import Database
from store.outbox import enqueue
from tests.bus.conftest import Collector, embedded_options, kafka_options, wait_until
from tests.tansu import TansuBroker


async def write_outbox(db: Database, topic: str, keys: list[str], tag: str) -> list[str]:
    """Commit one outbox row per key (one transaction each, like API writes); returns message ids."""
    ids = []
    for i, key in enumerate(keys):
        env = Envelope(f"{tag}-{i}-{uuid.uuid4().hex[:6]}", "test.event", 1, key, datetime.now(UTC), {"i": i})
        async with db.session() as s:
            enqueue(s, topic, env)
        ids.append(env.id)
    return ids


def test_backoff_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(1, 12)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(15.0 <= d <= 30.0 for d in delays[7:])
    assert len({round(d, 6) for d in delays[7:]}) > 1  # jittered, not lock-step


async def test_relay_publishes_in_order_with_message_id(database: Database) -> None:
    topic, seen = f"t.{uuid.uuid4().hex[:8]}", Collector()
    bus = EmbeddedBus(database, SystemClock(), embedded_options())
    bus.subscribe(topic, "g", seen)
    await bus.start()
    relay = OutboxRelay(database, bus, SystemClock(), batch=7, poll_interval=0.05)
    await relay.start()
    try:
        keys = [f"cal-{i % 5}" for i in range(40)]
        ids = await write_outbox(database, topic, keys, "a")
        relay.notify()
        await seen.wait_for(40)
        assert [r.headers["message-id"] for r in seen.records if r.key == "cal-3"] == [
            mid for mid, k in zip(ids, keys, strict=True) if k == "cal-3"
        ]
        assert sorted(r.headers["message-id"] for r in seen.records) == sorted(ids)
        backlog = await relay.backlog()
        assert (backlog.pending, backlog.oldest_age_seconds) == (0, 0.0)
    finally:
        await relay.stop()
        await bus.stop()


@pytest.mark.kafka
@pytest.mark.slow
async def test_rows_written_while_broker_down_arrive_after_it_returns(sqlite_url: str) -> None:
    from store.migrate import upgrade

    upgrade(sqlite_url)
    db = Database(sqlite_url)
    broker = TansuBroker()  # not started: Kafka is down when the daemon starts
    topic = f"t.{uuid.uuid4().hex[:8]}"
    bus = KafkaBus([broker.bootstrap], SystemClock(), kafka_options(request_timeout_ms=2000))
    relay = OutboxRelay(
        db, bus, SystemClock(), batch=50, poll_interval=0.1, backoff_initial=0.1, backoff_max=1.0
    )
    try:
        await bus.start()  # must not fail: keeps connecting in the background
        assert not (await bus.health()).ok
        await relay.start()
        first = await write_outbox(db, topic, [f"cal-{i % 3}" for i in range(30)], "down")
        relay.notify()
        await wait_until(lambda: relay.failures_total >= 1, timeout=15)
        assert (await relay.backlog()).pending == 30

        t0 = time.monotonic()
        broker.start()
        await wait_until(lambda: _drained(relay), timeout=30)
        first_delay = time.monotonic() - t0
        assert (await bus.health()).ok

        # Crash the broker (memory storage: its topics are gone), write more, bring it back.
        broker.stop()
        failures_before = relay.failures_total
        second = await write_outbox(db, topic, [f"cal-{i % 3}" for i in range(20)], "crash")
        relay.notify()
        await wait_until(lambda: relay.failures_total > failures_before, timeout=15)
        assert (await relay.backlog()).pending == 20
        t1 = time.monotonic()
        broker.start()
        await wait_until(lambda: _drained(relay), timeout=30)
        second_delay = time.monotonic() - t1

        # The second broker only holds what was written after it started: the second batch.
        reader, seen = KafkaBus([broker.bootstrap], SystemClock(), kafka_options()), Collector()
        reader.subscribe(topic, "verify", seen)
        await reader.start()
        try:
            await seen.wait_for(len(second), timeout=30)
            assert sorted(r.headers["message-id"] for r in seen.records) == sorted(second)
        finally:
            await reader.stop()
        assert len(first) == 30
        print(f"\nrelay drained {first_delay:.1f}s after broker start, {second_delay:.1f}s after restart")
    finally:
        await relay.stop()
        await bus.stop()
        broker.stop()
        await db.close()


@pytest.mark.kafka
@pytest.mark.slow
async def test_quiet_broker_restart_loses_nothing(sqlite_url: str) -> None:
    """Tansu restarts empty yet acks produce requests for topics it does not list:
    the bus re-creates topics even when no publish failed in between."""
    from store.migrate import upgrade

    upgrade(sqlite_url)
    db = Database(sqlite_url)
    broker = TansuBroker()
    broker.start()
    topic = f"t.{uuid.uuid4().hex[:8]}"
    bus = KafkaBus([broker.bootstrap], SystemClock(), kafka_options())
    relay = OutboxRelay(db, bus, SystemClock(), poll_interval=0.05, backoff_initial=0.05, backoff_max=0.5)
    try:
        await bus.start()
        await relay.start()
        await write_outbox(db, topic, ["cal-1"], "before")
        relay.notify()
        await wait_until(lambda: _drained(relay), timeout=10)
        broker.stop()
        broker.start()  # back before anyone noticed
        ids = await write_outbox(db, topic, ["cal-1", "cal-2", "cal-3"], "after")
        relay.notify()
        await wait_until(lambda: _drained(relay), timeout=20)
        reader, seen = KafkaBus([broker.bootstrap], SystemClock(), kafka_options()), Collector()
        reader.subscribe(topic, "verify", seen)
        await reader.start()
        try:
            await seen.wait_for(3, timeout=15)
        finally:
            await reader.stop()
        assert sorted(r.headers["message-id"] for r in seen.records) == sorted(ids)
    finally:
        await relay.stop()
        await bus.stop()
        broker.stop()
        await db.close()


async def _drained(relay: OutboxRelay) -> bool:
    return (await relay.backlog()).pending == 0


@pytest.mark.kafka
async def test_relay_cancelled_mid_publish_leaves_rows_pending(sqlite_url: str) -> None:
    """A relay killed while publishing (broker just died) commits nothing: a new relay sends the rows."""
    from store.migrate import upgrade

    upgrade(sqlite_url)
    db = Database(sqlite_url)
    broker = TansuBroker()
    broker.start()
    topic = f"t.{uuid.uuid4().hex[:8]}"
    # Without the metadata pre-check a send to a dead broker waits (up to the request timeout).
    bus = KafkaBus(
        [broker.bootstrap], SystemClock(), kafka_options(request_timeout_ms=3000, verify_topics=False)
    )
    try:
        await bus.start()
        await bus.publish(topic, "cal-1", b"warm-up")  # topic known: the next send blocks, not fails
        broker.stop()
        ids = await write_outbox(db, topic, ["cal-1"] * 5, "x")
        relay = OutboxRelay(db, bus, SystemClock(), poll_interval=0.05)
        once = asyncio.create_task(relay.relay_once())
        await asyncio.sleep(0.5)
        assert not once.done(), "publish should still be waiting for the dead broker"
        once.cancel()  # the kill -9 analogue: the relay's transaction never commits
        with pytest.raises(asyncio.CancelledError):
            await once
        assert (await relay.backlog()).pending == 5

        local, seen = EmbeddedBus(db, SystemClock(), embedded_options()), Collector()
        local.subscribe(topic, "g", seen)
        await local.start()
        assert await OutboxRelay(db, local, SystemClock()).relay_once() == 5
        await seen.wait_for(5)
        assert [r.headers["message-id"] for r in seen.records] == ids
        await local.stop()
    finally:
        await bus.terminate()
        broker.stop()
        await db.close()
