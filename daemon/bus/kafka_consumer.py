"""One Kafka consumer-group member (aiokafka): fetch, hand records to handlers, commit after them.

Offsets are committed only after the handler returned (``enable_auto_commit=False``), after
every record, so a crash redelivers at most the records in flight. On a rebalance the
listener lets the records in flight finish and commit before the partitions move (and
stops the rest of the batch), so the next owner does not get handled records again. The
partitions of one fetched batch run concurrently; one partition's records strictly in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from calsync.clock import Clock
from calsync.observe import NULL_OBSERVER, Observer
from daemon.bus.base import Handler, Record, RetryPolicy
from daemon.bus.delivery import DeadLetter, deliver, describe_error

log = structlog.get_logger("calsync.bus")


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    bootstrap: tuple[str, ...]
    client_id: str
    session_timeout_ms: int
    heartbeat_interval_ms: int
    poll_timeout_ms: int
    max_poll_records: int
    reconnect_interval: float
    retry: RetryPolicy
    observer: Observer = NULL_OBSERVER


def to_record(msg: object) -> Record:
    """aiokafka's ConsumerRecord -> our Record (keys and header values decoded as UTF-8)."""
    key: bytes | None = getattr(msg, "key", None)
    headers = getattr(msg, "headers", ()) or ()
    return Record(
        topic=getattr(msg, "topic"),  # noqa: B009 (ConsumerRecord is untyped)
        partition=int(getattr(msg, "partition")),  # noqa: B009
        offset=int(getattr(msg, "offset")),  # noqa: B009
        key=(key or b"").decode(errors="replace"),
        value=getattr(msg, "value", None) or b"",
        headers={k: (v or b"").decode(errors="replace") for k, v in headers},
    )


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KafkaGroupConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._owner.on_revoked()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("bus.partitions_assigned", group=self._owner.group, partitions=len(assigned))


class KafkaGroupConsumer:
    def __init__(
        self,
        config: ConsumerConfig,
        group: str,
        handlers: Mapping[str, Handler],
        dead_letter: DeadLetter,
        clock: Clock,
    ) -> None:
        self._cfg, self.group, self._handlers = config, group, dict(handlers)
        self._dead_letter, self._clock = dead_letter, clock
        self._consumer: AIOKafkaConsumer | None = None
        self._committed: dict[TopicPartition, int] = {}  # what we committed last, for the lag metric
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[list[None]] | None = None
        self._stopping = False
        self._pausing = False  # a rebalance is revoking: finish the current record, then wait

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def lag(self) -> dict[str, int]:
        """Per topic: highwater minus position over the partitions this member holds now."""
        consumer = self._consumer
        if consumer is None:
            return {}
        out: dict[str, int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)  # known once a fetch for tp has returned
            if high is not None:
                behind = max(0, int(high) - self._committed.get(tp, int(high)))
                out[tp.topic] = out.get(tp.topic, 0) + behind
        return out

    def assignment(self) -> dict[str, frozenset[int]]:
        assigned = self._consumer.assignment() if self._consumer is not None else set()
        return {t: frozenset(tp.partition for tp in assigned if tp.topic == t) for t in self._handlers}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"bus-kafka-group:{self.group}")

    async def _connect(self) -> AIOKafkaConsumer:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=list(self._cfg.bootstrap),
                client_id=self._cfg.client_id,
                group_id=self.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=self._cfg.session_timeout_ms,
                heartbeat_interval_ms=self._cfg.heartbeat_interval_ms,
                max_poll_records=self._cfg.max_poll_records,
            )
            consumer.subscribe(topics=sorted(self._handlers), listener=_Listener(self))
            try:
                await consumer.start()
                return consumer
            except KafkaError as err:
                log.warning("bus.consumer_connect_failed", group=self.group, error=describe_error(err))
                await consumer.stop()
                await asyncio.sleep(self._cfg.reconnect_interval)

    async def _run(self) -> None:
        self._consumer = await self._connect()
        while not self._stopping:
            try:
                batches = await self._consumer.getmany(timeout_ms=self._cfg.poll_timeout_ms)
            except KafkaError as err:
                log.warning("bus.fetch_failed", group=self.group, error=describe_error(err))
                await asyncio.sleep(self._cfg.reconnect_interval)
                continue
            if not batches:
                continue
            self._pausing = False
            self._inflight = asyncio.gather(*(self._partition(tp, msgs) for tp, msgs in batches.items()))
            try:
                await self._inflight
            finally:
                self._inflight = None

    async def _partition(self, tp: TopicPartition, msgs: list[object]) -> None:
        handler = self._handlers[tp.topic]
        for msg in msgs:
            if self._stopping or self._pausing:
                return  # the rest stays uncommitted and is fetched again by whoever owns tp next
            record = to_record(msg)
            await deliver(
                record, handler, self._cfg.retry, self._dead_letter, self._clock, self._cfg.observer
            )
            await self._commit(tp, record.offset + 1)

    async def _commit(self, tp: TopicPartition, next_offset: int) -> None:
        """Commit after every record: a crash redelivers at most the record in flight."""
        consumer = self._consumer
        if consumer is None:
            return
        try:
            await consumer.commit({tp: next_offset})
            self._committed[tp] = next_offset
        except KafkaError as err:  # e.g. a rebalance took the partition: the record comes again
            log.warning(
                "bus.commit_failed", group=self.group, partition=tp.partition, error=describe_error(err)
            )

    async def on_revoked(self) -> None:
        """Let the record in flight finish and commit before the partitions move (bounded wait)."""
        self._pausing = True
        inflight = self._inflight
        if inflight is not None:
            await asyncio.wait({inflight}, timeout=self._cfg.session_timeout_ms / 2000)

    async def stop(self) -> None:
        """Finish the record in flight in every partition, commit, leave the group."""
        self._stopping = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close()

    async def terminate(self) -> None:
        """Drop everything in flight without committing (as if the process died)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._close()

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(KafkaError):
                await consumer.stop()
