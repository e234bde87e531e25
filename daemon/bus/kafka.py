"""The Kafka bus (aiokafka): durable producer, topic creation, one consumer per group.

A broker outage never stops the daemon: if the producer cannot connect at start, it keeps
retrying in the background, ``publish`` raises ``BusUnavailable`` (the outbox keeps the
data) and ``health()`` reports degraded.

Topics are (re-)created before publishing. With ``verify_topics`` (default) every publish
batch first checks fresh metadata and re-creates missing topics with the configured
partition count: a broker that restarted empty (Tansu's memory storage) still acknowledged
a produce to a topic it no longer listed (measured, aiokafka 0.14 + Tansu 0.6.0), and
whatever it creates implicitly need not have our partition count (key -> partition map).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from calsync.clock import Clock
from calsync.envelope import dlq_topic
from calsync.errors import BusUnavailable
from calsync.observe import NULL_OBSERVER, Observer
from daemon.bus.base import BusHealth, Handler, OutgoingRecord, RetryPolicy
from daemon.bus.delivery import describe_error
from daemon.bus.kafka_consumer import ConsumerConfig, KafkaGroupConsumer

log = structlog.get_logger("calsync.bus")

_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    partitions: int = 8
    replication_factor: int = 1
    enable_idempotence: bool = True
    client_id: str = "calsync"
    request_timeout_ms: int = 15_000
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    poll_timeout_ms: int = 500
    max_poll_records: int = 100
    reconnect_interval: float = 2.0
    # One Metadata round trip per publish batch; guards against brokers that restart empty.
    verify_topics: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    observer: Observer = NULL_OBSERVER


class KafkaBus:
    def __init__(self, bootstrap: Sequence[str], clock: Clock, options: KafkaOptions | None = None) -> None:
        self._bootstrap = tuple(bootstrap)
        self._clock = clock
        self._opts = options or KafkaOptions()
        self._subs: dict[str, dict[str, Handler]] = {}
        self._consumers: list[KafkaGroupConsumer] = []
        self._producer: AIOKafkaProducer | None = None
        self._known_topics: set[str] = set()
        self._topic_lock = asyncio.Lock()
        self._connector: asyncio.Task[None] | None = None
        self._last_error = "not started"
        self._started = False

    def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        if self._started:
            raise RuntimeError("subscribe() must be called before start()")
        self._subs.setdefault(group, {})[topic] = handler

    def assignment(self) -> dict[tuple[str, str], frozenset[int]]:
        return {(c.group, t): ps for c in self._consumers for t, ps in c.assignment().items()}

    async def lag(self) -> dict[tuple[str, str], int]:
        return {(c.group, t): n for c in self._consumers for t, n in c.lag().items()}

    async def start(self) -> None:
        self._started = True
        try:
            await self._connect()
        except BusUnavailable as err:
            log.warning("bus.kafka_unavailable_at_start", error=str(err))
            self._connector = asyncio.create_task(self._connect_loop(), name="bus-kafka-connect")
            return
        self._start_consumers()

    async def _connect(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=list(self._bootstrap),
            client_id=self._opts.client_id,
            acks="all",
            enable_idempotence=self._opts.enable_idempotence,
            request_timeout_ms=self._opts.request_timeout_ms,
        )
        try:
            await producer.start()
        except KafkaError as err:
            await producer.stop()
            self._last_error = describe_error(err)
            raise BusUnavailable(f"Kafka unreachable: {self._last_error}") from err
        subscribed = {t for handlers in self._subs.values() for t in handlers}
        try:
            await self._ensure_topics(subscribed)
        except BusUnavailable:
            await producer.stop()
            raise
        self._producer = producer

    async def _connect_loop(self) -> None:
        while True:
            await asyncio.sleep(self._opts.reconnect_interval)
            try:
                await self._connect()
            except BusUnavailable:
                continue
            log.info("bus.kafka_connected")
            self._start_consumers()
            return

    def _start_consumers(self) -> None:
        o = self._opts
        config = ConsumerConfig(
            self._bootstrap, o.client_id, o.session_timeout_ms, o.heartbeat_interval_ms,
            o.poll_timeout_ms, o.max_poll_records, o.reconnect_interval, o.retry, o.observer,
        )  # fmt: skip
        for group, handlers in self._subs.items():
            consumer = KafkaGroupConsumer(config, group, handlers, self._dead_letter, self._clock)
            consumer.start()
            self._consumers.append(consumer)

    async def _ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics and their ``.dlq`` unless known to exist (idempotent)."""
        wanted = {t for topic in topics for t in (topic, dlq_topic(topic))} - self._known_topics
        if not wanted:
            return
        async with self._topic_lock:
            wanted -= self._known_topics
            if not wanted:
                return
            admin = AIOKafkaAdminClient(
                bootstrap_servers=list(self._bootstrap),
                client_id=self._opts.client_id,
                request_timeout_ms=self._opts.request_timeout_ms,
            )
            try:
                await admin.start()
                new = [
                    NewTopic(t, self._opts.partitions, self._opts.replication_factor) for t in sorted(wanted)
                ]
                response = await admin.create_topics(new)
            except KafkaError as err:
                self._last_error = describe_error(err)
                raise BusUnavailable(f"cannot create topics: {self._last_error}") from err
            finally:
                await admin.close()
            for topic, code, message in response.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise BusUnavailable(f"cannot create topic {topic}: error {code} {message}")
            self._known_topics |= wanted

    async def publish(
        self, topic: str, key: str, value: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        await self.publish_many([OutgoingRecord(topic, key, value, headers or {})])

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
        producer = self._producer
        if producer is None:
            raise BusUnavailable(f"Kafka not connected: {self._last_error}")
        if not records:
            return
        try:
            if self._opts.verify_topics:
                metadata = await producer.client.fetch_all_metadata()
                self._known_topics &= set(metadata.topics())
            await self._ensure_topics({r.topic for r in records})
            # send() only enqueues; aiokafka sends one batch per partition at a time, so order holds.
            futures = [
                await producer.send(
                    r.topic,
                    r.value,
                    key=r.key.encode(),
                    headers=[(k, v.encode()) for k, v in r.headers.items()],
                )
                for r in records
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
        except (KafkaError, BusUnavailable) as err:
            self._failed(err)
            if isinstance(err, BusUnavailable):
                raise
            raise BusUnavailable(f"publish failed: {describe_error(err)}") from err
        for result in results:
            if isinstance(result, BaseException):
                self._failed(result)
                raise BusUnavailable(f"publish failed: {describe_error(result)}") from result

    def _failed(self, err: BaseException) -> None:
        self._last_error = describe_error(err)
        self._known_topics.clear()  # the broker may have come back empty: re-create before the next send

    async def _dead_letter(self, record: OutgoingRecord) -> None:
        await self.publish_many([record])

    async def health(self) -> BusHealth:
        producer = self._producer
        if producer is None:
            return BusHealth(False, f"Kafka not connected: {self._last_error}")
        try:
            await asyncio.wait_for(producer.client.fetch_all_metadata(), self._opts.request_timeout_ms / 1000)
        except (KafkaError, OSError, TimeoutError) as err:
            return BusHealth(False, f"Kafka metadata unreachable: {describe_error(err)}")
        dead = [c.group for c in self._consumers if not c.alive]
        if dead:
            return BusHealth(False, "consumer stopped: " + ", ".join(dead))
        return BusHealth(True, f"Kafka {','.join(self._bootstrap)}, {len(self._consumers)} consumer group(s)")

    async def stop(self) -> None:
        await self._stop_connector()
        await asyncio.gather(*(c.stop() for c in self._consumers))
        await self._close_producer()

    async def terminate(self) -> None:
        await self._stop_connector()
        await asyncio.gather(*(c.terminate() for c in self._consumers))
        await self._close_producer()

    async def _stop_connector(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
            self._connector = None

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError):
                await producer.stop()
