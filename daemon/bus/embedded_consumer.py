"""One consumer-group member of the embedded bus: partition leases and one worker per leased partition.

The member heartbeats, renews its leases every ``lease/3`` and moves towards its fair share
of the partitions (members sorted by id; the first ``P % M`` get one more): it takes free or
expired partitions, and hands back surplus ones after their in-flight record is committed.
A member that dies (kill -9) simply stops renewing; the others take its partitions once the
lease has run out and resume from its last commit, so uncommitted records are redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import structlog
from sqlalchemy.exc import SQLAlchemyError

from calsync.clock import Clock
from calsync.observe import NULL_OBSERVER, Observer
from daemon.bus import embedded_log as q
from daemon.bus.base import Handler, Record, RetryPolicy
from daemon.bus.delivery import DeadLetter, deliver, describe_error
from daemon.bus.pulse import TopicPulses
from store.db import Database

log = structlog.get_logger("calsync.bus")
T = TypeVar("T")
DB_ERRORS = (SQLAlchemyError, OSError)


@dataclass(frozen=True, slots=True)
class MemberConfig:
    partitions: int
    lease_seconds: float
    poll_interval: float
    fetch_batch: int
    retry: RetryPolicy
    observer: Observer = NULL_OBSERVER
    idle_wait: float = 30.0  # without a wake-up (local append or a moved head), fetch anyway this often


def fair_share(partitions: int, members: list[str], me: str) -> int:
    """How many partitions ``me`` should hold: an even split, the remainder to the lowest ids."""
    if me not in members:
        members = sorted([*members, me])
    count = len(members)
    return partitions // count + (1 if members.index(me) < partitions % count else 0)


class GroupMember:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: MemberConfig,
        member: str,
        topic: str,
        group: str,
        handler: Handler,
        pulse: TopicPulses,
        dead_letter: DeadLetter,
    ) -> None:
        self._db, self._clock, self._cfg = db, clock, config
        self.member, self.topic, self.group = member, topic, group
        self._handler, self._pulse, self._dead_letter = handler, pulse, dead_letter
        self._workers: dict[int, _PartitionWorker] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def owned(self) -> set[int]:
        return {p for p, w in self._workers.items() if not w.done}

    def _until(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._cfg.lease_seconds)

    async def start(self) -> None:
        async with self._db.session() as s:
            await q.ensure_positions(s, self.group, self.topic, self._cfg.partitions)
        self._task = asyncio.create_task(self._run(), name=f"bus-member:{self.group}:{self.topic}")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._rebalance()
            except DB_ERRORS as err:
                log.warning(
                    "bus.rebalance_failed", group=self.group, topic=self.topic, error=describe_error(err)
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._cfg.lease_seconds / 3)

    async def _rebalance(self) -> None:
        now, until = self._clock.now(), self._until()
        async with self._db.session() as s:
            await q.heartbeat(s, self.group, self.topic, self.member, until)
            members = await q.live_members(s, self.group, self.topic, now)
            held = await q.renew(s, self.group, self.topic, self.member, until)
            table = await q.leases(s, self.group, self.topic)
        self._workers = {p: w for p, w in self._workers.items() if not w.done}
        for p, worker in self._workers.items():
            if p not in held:  # someone took it over (we stalled past our lease): stop, don't commit
                worker.lost = True
                worker.request_stop(release=False)
        share = fair_share(self._cfg.partitions, members, self.member)
        active = sorted(p for p, w in self._workers.items() if not w.stop_requested)
        for p in active[share:]:  # surplus: hand back once the in-flight record is committed
            self._workers[p].request_stop(release=True)
        wanted = share - min(len(active), share)
        orphans = held - set(self._workers)  # ours in the table but without a worker (a failed release)
        for lease in sorted(table, key=lambda lease: lease.partition not in orphans):
            if wanted <= 0 or self._stopping.is_set():
                break
            if lease.partition in self._workers or not (lease.free_at(now) or lease.partition in orphans):
                continue
            async with self._db.session() as s:
                start = await q.acquire(
                    s, self.group, self.topic, lease.partition, self.member, now, self._until()
                )
            if start is not None:
                wanted -= 1
                log.info(
                    "bus.partition_acquired", group=self.group, topic=self.topic, partition=lease.partition
                )
                worker = _PartitionWorker(self, lease.partition, start)
                self._workers[lease.partition] = worker
                worker.start()
        leftover = held - set(self._workers)
        if leftover:
            async with self._db.session() as s:
                await q.release(s, self.group, self.topic, self.member, sorted(leftover))

    async def stop(self) -> None:
        """Drain: each worker finishes and commits its in-flight record; then leave the group."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        for worker in self._workers.values():
            worker.request_stop(release=False)
        self._pulse.fire_all()
        await asyncio.gather(*(w.join() for w in self._workers.values()))
        try:
            async with self._db.session() as s:
                await q.leave(s, self.group, self.topic, self.member)
        except DB_ERRORS as err:  # the leases will simply expire
            log.warning("bus.leave_failed", group=self.group, topic=self.topic, error=describe_error(err))

    async def terminate(self) -> None:
        """Vanish like a killed process: no commit, no release (leases expire on their own)."""
        self._stopping.set()
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        if self._task is not None:
            tasks.append(self._task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def db_retry(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        """Run a database step until it succeeds (the log is the source of truth; nothing to skip to)."""
        failures = 0
        while True:
            try:
                return await op()
            except DB_ERRORS as err:
                failures += 1
                log.warning("bus.db_failed", step=what, group=self.group, error=describe_error(err))
                await asyncio.sleep(min(5.0, self._cfg.poll_interval * failures))


class _PartitionWorker:
    """Handles one leased partition in offset order, committing after every record."""

    def __init__(self, member: GroupMember, partition: int, next_offset: int) -> None:
        self.m, self.partition, self.next_offset = member, partition, next_offset
        self.stop_requested = False
        self.lost = False
        self._release = False
        self.task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"bus-partition:{self.m.topic}:{self.partition}")

    def request_stop(self, *, release: bool) -> None:
        self.stop_requested = True
        self._release = self._release or release

    async def join(self) -> None:
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        m, cfg = self.m, self.m._cfg
        while not self.stop_requested:
            pulse = m._pulse.of(self.partition)
            seen = pulse.generation
            records = await m.db_retry("fetch", self._fetch)
            if not records:
                await pulse.wait(seen, cfg.idle_wait)
                continue
            for record in records:
                if self.stop_requested:
                    break
                await deliver(record, m._handler, cfg.retry, m._dead_letter, m._clock, cfg.observer)
                if not await m.db_retry("commit", functools.partial(self._commit, record.offset + 1)):
                    log.warning("bus.lease_lost", group=m.group, topic=m.topic, partition=self.partition)
                    self.lost = True
                    return
                self.next_offset = record.offset + 1
        if self._release and not self.lost:
            await m.db_retry("release", self._give_back)

    async def _fetch(self) -> list[Record]:
        async with self.m._db.session() as s:
            return await q.fetch(s, self.m.topic, self.partition, self.next_offset, self.m._cfg.fetch_batch)

    async def _commit(self, next_offset: int) -> bool:
        async with self.m._db.session() as s:
            return await q.commit(
                s, self.m.group, self.m.topic, self.partition, self.m.member, next_offset, self.m._until()
            )

    async def _give_back(self) -> None:
        async with self.m._db.session() as s:
            await q.release(s, self.m.group, self.m.topic, self.m.member, [self.partition])
        log.info("bus.partition_released", group=self.m.group, topic=self.m.topic, partition=self.partition)
