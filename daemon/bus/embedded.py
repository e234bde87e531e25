"""The embedded bus: a durable, partitioned log in our own database (the default without Kafka).

Publishing is an INSERT, so an acknowledged publish survives kill -9. Consumers are group
members holding partition leases (see ``embedded_consumer``). Publishes in this process
wake its consumers at once; publishes by other processes/replicas are seen by polling.
A background task purges records that every group has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.clock import Clock
from calsync.errors import BusUnavailable, StoreError
from calsync.observe import NULL_OBSERVER, Observer
from daemon.bus import embedded_log as q
from daemon.bus.base import BusHealth, Handler, OutgoingRecord, RetryPolicy, partition_for
from daemon.bus.delivery import describe_error
from daemon.bus.embedded_consumer import GroupMember, MemberConfig
from daemon.bus.pulse import TopicPulses
from store.db import Database

log = structlog.get_logger("calsync.bus")

_APPEND_TRIES = 5  # offset races between processes end in a unique violation; try again


@dataclass(frozen=True, slots=True)
class EmbeddedOptions:
    partitions: int = 8
    lease_seconds: float = 10.0
    # How often the log's partition heads are read for records other processes appended
    # (replicas sharing PostgreSQL); a head that moved wakes that partition's workers.
    poll_interval: float = 0.5
    idle_fetch_interval: float = 30.0  # a worker's own fetch when nothing woke it: a safety net
    fetch_batch: int = 100
    purge_interval: float = 60.0
    purge_batch: int = 10_000
    retention: timedelta = timedelta(days=7)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    observer: Observer = NULL_OBSERVER


class EmbeddedBus:
    def __init__(self, db: Database, clock: Clock, options: EmbeddedOptions | None = None) -> None:
        self._db, self._clock = db, clock
        self._opts = options or EmbeddedOptions()
        self.member_id = uuid.uuid4().hex
        self._subs: list[tuple[str, str, Handler]] = []
        self._members: list[GroupMember] = []
        self._pulses: dict[str, TopicPulses] = {}
        self._append_lock = asyncio.Lock()
        self._purger: asyncio.Task[None] | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self._started = False

    def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        if self._started:
            raise RuntimeError("subscribe() must be called before start()")
        self._subs.append((topic, group, handler))

    def assignment(self) -> dict[tuple[str, str], frozenset[int]]:
        return {(m.group, m.topic): frozenset(m.owned) for m in self._members}

    async def lag(self) -> dict[tuple[str, str], int]:
        async with self._db.session() as s:
            return await q.lag(s, [(group, topic) for topic, group, _ in self._subs])

    def _pulse(self, topic: str) -> TopicPulses:
        return self._pulses.setdefault(topic, TopicPulses())

    def _fire(self, records: Iterable[OutgoingRecord]) -> None:
        for topic, partition in {(r.topic, partition_for(r.key, self._opts.partitions)) for r in records}:
            self._pulse(topic).fire(partition)

    async def start(self) -> None:
        self._started = True
        o = self._opts
        config = MemberConfig(
            o.partitions, o.lease_seconds, o.poll_interval, o.fetch_batch, o.retry, o.observer,
            idle_wait=o.idle_fetch_interval,
        )  # fmt: skip
        for topic, group, handler in self._subs:
            member = GroupMember(
                self._db, self._clock, config, self.member_id, topic, group, handler,
                self._pulse(topic), self._dead_letter,
            )  # fmt: skip
            await member.start()
            self._members.append(member)
        self._purger = asyncio.create_task(self._purge_loop(), name="bus-purge")
        self._watchers = [
            asyncio.create_task(self._watch_heads(topic), name=f"bus-heads:{topic}")
            for topic in sorted({topic for topic, _, _ in self._subs})
        ]

    async def publish(
        self, topic: str, key: str, value: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        await self.publish_many([OutgoingRecord(topic, key, value, headers or {})])

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
        if not records:
            return
        async with self._append_lock:  # one appender per process; other processes race on the unique key
            for attempt in range(1, _APPEND_TRIES + 1):
                try:
                    async with self._db.session() as s:
                        await q.append(s, records, self._opts.partitions, self._clock.now())
                    break
                except (IntegrityError, OperationalError) as err:
                    if attempt == _APPEND_TRIES:
                        raise BusUnavailable(f"embedded log append failed: {describe_error(err)}") from err
                    await asyncio.sleep(0.01 * attempt)
                except (SQLAlchemyError, OSError) as err:
                    raise BusUnavailable(f"embedded log unreachable: {describe_error(err)}") from err
        self._fire(records)

    @property
    def database(self) -> Database:
        return self._db

    async def append_in(self, session: AsyncSession, records: Sequence[OutgoingRecord]) -> None:
        """Append inside the caller's transaction (the relay's), so the log rows and the outbox's
        "published" mark commit together: a kill -9 can neither lose nor duplicate them.
        Call ``wake()`` after the commit."""
        await q.append(session, records, self._opts.partitions, self._clock.now())

    def wake(self, records: Iterable[OutgoingRecord]) -> None:
        self._fire(records)

    async def _dead_letter(self, record: OutgoingRecord) -> None:
        await self.publish_many([record])

    async def stop(self) -> None:
        await self._stop_background()
        for pulses in self._pulses.values():
            pulses.fire_all()
        await asyncio.gather(*(m.stop() for m in self._members))
        self._members.clear()

    async def terminate(self) -> None:
        await self._stop_background()
        await asyncio.gather(*(m.terminate() for m in self._members))
        self._members.clear()

    async def _stop_background(self) -> None:
        tasks = [t for t in (self._purger, *self._watchers) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._purger, self._watchers = None, []

    async def _watch_heads(self, topic: str) -> None:
        """Wake the partitions whose log grew behind this process's back (another replica's append).

        One query per topic and interval, instead of every idle worker of every group fetching.
        Its first reading wakes every partition, in case something arrived before it started.
        """
        seen: dict[int, int | None] | None = None
        while True:
            try:
                async with self._db.session() as s:
                    now = await q.heads(s, topic, self._opts.partitions)
            except (SQLAlchemyError, OSError) as err:
                log.debug("bus.heads_failed", topic=topic, error=describe_error(err))
            else:
                for partition, head in now.items():
                    if seen is None or seen.get(partition) != head:
                        self._pulse(topic).fire(partition)
                seen = now
            await asyncio.sleep(self._opts.poll_interval)

    async def health(self) -> BusHealth:
        try:
            await self._db.ping()
        except StoreError as err:
            return BusHealth(False, f"embedded log unreachable: {err}")
        dead = [f"{m.group}/{m.topic}" for m in self._members if not m.alive]
        if dead:
            return BusHealth(False, "consumer stopped: " + ", ".join(dead))
        return BusHealth(True, f"embedded log, {len(self._members)} consumer(s)")

    async def purge_once(self) -> int:
        async with self._db.session() as s:
            return await q.purge(s, self._clock.now(), self._opts.retention, self._opts.purge_batch)

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self._opts.purge_interval)
            try:
                deleted = await self.purge_once()
            except (SQLAlchemyError, OSError) as err:
                log.warning("bus.purge_failed", error=describe_error(err))
                continue
            if deleted:
                log.info("bus.purged", records=deleted)
