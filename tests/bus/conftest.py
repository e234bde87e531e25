"""Bus contract fixtures: each contract test runs on the embedded bus (SQLite, PostgreSQL) and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from calsync.clock import SystemClock
from daemon.bus import Bus, EmbeddedBus, EmbeddedOptions, KafkaBus, KafkaOptions, Record, RetryPolicy
from store.db import Database
from store.migrate import upgrade
from tests.tansu import TansuBroker

PARTITIONS = 4
MAX_ATTEMPTS = 3
FAST_RETRY = RetryPolicy(max_attempts=MAX_ATTEMPTS, backoff_initial=0.01, backoff_max=0.05)


def kafka_options(**overrides: Any) -> KafkaOptions:
    base: dict[str, Any] = {
        "partitions": PARTITIONS,
        "enable_idempotence": False,  # Tansu has no InitProducerId
        "request_timeout_ms": 5000,
        "session_timeout_ms": 2000,  # Tansu rejoins after a leave only once the session ran out
        "heartbeat_interval_ms": 300,
        "poll_timeout_ms": 100,
        "reconnect_interval": 0.3,
        "retry": FAST_RETRY,
    }
    return KafkaOptions(**(base | overrides))


def embedded_options(**overrides: Any) -> EmbeddedOptions:
    base: dict[str, Any] = {
        "partitions": PARTITIONS,
        "lease_seconds": 1.5,
        "poll_interval": 0.05,
        "retry": FAST_RETRY,
    }
    return EmbeddedOptions(**(base | overrides))


@pytest.fixture(scope="session")
def tansu() -> Iterator[TansuBroker]:
    with TansuBroker() as broker:
        yield broker


class BusFactory:
    """Makes buses that share one backend (one database, or one broker); cleans up after the test."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind, self.target = kind, target
        self._buses: list[Bus] = []
        self._dbs: list[Database] = []
        self.topic = f"t.{uuid.uuid4().hex[:8]}"
        self.group = f"g.{uuid.uuid4().hex[:8]}"

    def new(self, **overrides: Any) -> Bus:
        bus: Bus
        if self.kind == "kafka":
            bus = KafkaBus([self.target], SystemClock(), kafka_options(**overrides))
        else:
            db = Database(self.target)  # a separate engine per bus: like a separate process
            self._dbs.append(db)
            bus = EmbeddedBus(db, SystemClock(), embedded_options(**overrides))
        self._buses.append(bus)
        return bus

    async def close(self) -> None:
        for bus in self._buses:
            try:
                await asyncio.wait_for(bus.stop(), 15)
            except (TimeoutError, Exception):
                await bus.terminate()
        for db in self._dbs:
            await db.close()


@pytest.fixture(
    params=[
        "embedded-sqlite",
        pytest.param("embedded-postgres", marks=pytest.mark.postgres),
        pytest.param("kafka", marks=pytest.mark.kafka),
    ]
)
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    if request.param == "kafka":
        factory = BusFactory("kafka", request.getfixturevalue("tansu").bootstrap)
    else:
        url: str = request.getfixturevalue(request.param.removeprefix("embedded-") + "_url")
        upgrade(url)
        factory = BusFactory("embedded", url)
    try:
        yield factory
    finally:
        await factory.close()


@dataclass
class Collector:
    """A handler that records what it saw; tests wait on counts."""

    name: str = "c"
    records: list[Record] = field(default_factory=list)
    attempts: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, record: Record) -> None:
        self.attempts[(record.partition, record.offset)] += 1
        await self.behave(record)
        self.records.append(record)
        self._changed.set()

    async def behave(self, record: Record) -> None:
        """Override to fail, block or slow down."""

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.records) < count:
                self._changed.clear()
                await self._changed.wait()


async def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> None:
    async with asyncio.timeout(timeout):
        while not await _call(predicate):
            await asyncio.sleep(interval)


async def _call(predicate: Any) -> bool:
    result = predicate()
    if asyncio.iscoroutine(result):
        result = await result
    return bool(result)
