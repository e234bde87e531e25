"""Wiring of the push worker: consumer of ``calsync.appointments`` and the periodic retry pass.

``install(app)`` runs inside ``create_app`` after ``sync_wiring.install`` (it shares
that runtime's adapter registry and credential cipher) and leaves a mutable
``PushRuntime`` at ``app[PUSH]``; tests may replace ``app[PUSH].settings`` before
start-up. The worker subscribes with group ``calsync-push``; the retry pass runs
every ``retry_interval`` seconds once the bus runs and is cancelled at shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from calsync.envelope import TOPIC_APPOINTMENTS
from daemon.appkeys import CLOCK, DATABASE, SETTINGS
from daemon.background import cancel_all, every
from daemon.bus.base import Bus, Record
from daemon.sync_wiring import SYNC
from handlers.adapters import ADAPTERS
from handlers.push import CONSUMER_GROUP, PushOptions, PushWorker, RetryPass

log = structlog.get_logger("calsync.push_wiring")


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Named defaults; not yet in ``daemon/config.py``."""

    push: PushOptions = field(default_factory=PushOptions)
    retry_interval: float = 60.0  # seconds between retry passes
    loops: bool = True


@dataclass(slots=True)
class PushRuntime:
    settings: PushSettings
    worker: PushWorker | None = None
    retry: RetryPass | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


PUSH = web.AppKey("push_runtime", PushRuntime)


def _setup_consumer(app: web.Application, bus: Bus) -> None:
    runtime = app[PUSH]
    options = runtime.settings.push
    # Leave at least one bus attempt spare: the worker gives up (and records the error) first,
    # so a provider outage never sends an appointment to the dead-letter topic.
    attempts = max(1, min(options.attempts, app[SETTINGS].bus_max_attempts - 1))
    if attempts != options.attempts:
        options = PushOptions(attempts, options.retry_after, options.retry_batch)
    db, clock = app[DATABASE], app[CLOCK]
    runtime.worker = worker = PushWorker(db, app[ADAPTERS], app[SYNC].cipher, clock, options)
    runtime.retry = RetryPass(db, clock, options)

    async def handle(record: Record) -> None:
        await worker.handle(record.value)

    bus.subscribe(TOPIC_APPOINTMENTS, CONSUMER_GROUP, handle)


async def _loops(app: web.Application) -> AsyncIterator[None]:
    runtime = app[PUSH]
    if runtime.settings.loops:

        async def retry() -> None:
            if runtime.retry is not None:
                await runtime.retry.tick()

        interval = runtime.settings.retry_interval
        # The first pass waits one interval: right after start-up nothing is overdue yet.
        loop = every("push_retry", interval, retry, app[CLOCK], first_delay=interval)
        runtime.tasks = [asyncio.create_task(loop)]
    yield
    await cancel_all(runtime.tasks)
    runtime.tasks = []


def install(app: web.Application) -> None:
    from daemon.app import CONSUMERS  # the composition root imports us; import its key lazily

    app[PUSH] = PushRuntime(PushSettings())
    app[CONSUMERS].append(_setup_consumer)
    app.cleanup_ctx.append(_loops)
