"""The outbox relay: publishes committed outbox rows to the bus, in id order, at least once.

One transaction per batch: take the relay lock (one relaying replica on PostgreSQL), claim
the oldest unpublished rows, publish them, mark them published. A crash anywhere before
the commit leaves the rows unpublished, so they go out again after a restart (consumers
deduplicate on the ``message-id`` header). With the embedded bus on the same database the
log rows are appended in that very transaction, so nothing is published twice either.
While the bus is unavailable the rows stay put and the relay backs off (capped exponential
with jitter). The API calls ``notify()`` after committing a row so it goes out at once;
otherwise the relay polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError

from calsync.clock import Clock
from calsync.errors import BusUnavailable
from daemon.bus.base import H_MESSAGE_ID, Bus, OutgoingRecord
from daemon.bus.delivery import describe_error
from daemon.bus.embedded import EmbeddedBus
from daemon.bus.pulse import Pulse
from store.db import Database
from store.relay_queries import (
    backlog,
    claim_batch,
    mark_published,
    purge_published,
    record_failure,
    try_relay_lock,
)

log = structlog.get_logger("calsync.relay")


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    oldest_age_seconds: float


def backoff_delay(failures: int, initial: float, cap: float, rng: random.Random) -> float:
    """Capped exponential backoff with "equal jitter": between half and all of the step."""
    step = min(cap, initial * 2 ** max(0, failures - 1))
    return float(step / 2 + rng.uniform(0, step / 2))


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        clock: Clock,
        batch: int = 500,
        *,
        poll_interval: float = 1.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        keep_published: timedelta = timedelta(days=1),
        purge_interval: float = 300.0,
    ) -> None:
        self._db, self._bus, self._clock, self._batch = db, bus, clock, batch
        self._poll_interval = poll_interval
        self._backoff = (backoff_initial, backoff_max)
        self._keep_published, self._purge_interval = keep_published, purge_interval
        self._pulse = Pulse()
        self._rng = random.Random()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.published_total = 0
        self.failures_total = 0

    def notify(self) -> None:
        """New rows were committed: relay now instead of at the next poll."""
        self._pulse.fire()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Finish the batch in flight (published rows get marked), then return."""
        self._stopping = True
        self._pulse.fire()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def relay_once(self) -> int:
        """Publish one batch; returns its size (0: nothing to do or another replica relays).

        Raises BusUnavailable after recording the failure on the rows.
        """
        failure: BusUnavailable | None = None
        bus = self._bus
        same_db = bus if isinstance(bus, EmbeddedBus) and bus.database is self._db else None
        async with self._db.session() as s:
            if not await try_relay_lock(s):
                return 0
            rows = await claim_batch(s, self._batch)
            if not rows:
                return 0
            ids = [r.id for r in rows if r.id is not None]
            records = [OutgoingRecord(r.topic, r.key, r.payload, {H_MESSAGE_ID: r.message_id}) for r in rows]
            try:
                if same_db is not None:
                    await same_db.append_in(s, records)  # one transaction: exactly once into the log
                else:
                    await self._bus.publish_many(records)
            except BusUnavailable as err:
                failure = err
                await record_failure(s, ids, describe_error(err))
            else:
                await mark_published(s, ids, self._clock.now())
        if failure is not None:
            raise failure
        if same_db is not None:
            same_db.wake(records)
        self.published_total += len(rows)
        return len(rows)

    async def backlog(self) -> Backlog:
        async with self._db.session() as s:
            count, age = await backlog(s, self._clock.now())
        return Backlog(count, age)

    async def purge_once(self) -> int:
        async with self._db.session() as s:
            return await purge_published(s, self._clock.now() - self._keep_published)

    async def _run(self) -> None:
        failures = 0
        next_purge = self._clock.monotonic() + self._purge_interval
        while not self._stopping:
            seen = self._pulse.generation
            try:
                sent = await self.relay_once()
                if self._clock.monotonic() >= next_purge:
                    next_purge = self._clock.monotonic() + self._purge_interval
                    await self.purge_once()
            except (BusUnavailable, SQLAlchemyError, OSError) as err:
                failures += 1
                self.failures_total += 1
                delay = backoff_delay(failures, *self._backoff, self._rng)
                log.warning("relay.publish_failed", error=describe_error(err), retry_in=round(delay, 2))
                await self._pulse.wait(self._pulse.generation, delay)  # stop() cuts the wait short
                continue
            if failures:
                log.info("relay.recovered", after_failures=failures)
            failures = 0
            if sent >= self._batch:
                continue  # more waiting: no pause
            await self._pulse.wait(seen, self._poll_interval)
