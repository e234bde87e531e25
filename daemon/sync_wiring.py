"""Wiring of provider-neutral sync: adapter registry, sync consumer, safety resync, channel renewal.

``install(app)`` runs inside ``create_app`` (before the app freezes) and leaves a
mutable ``SyncRuntime`` at ``app[SYNC]``; tests may replace ``app[SYNC].settings``
before start-up. At start-up the sync consumer subscribes to ``calsync.signals``
(group ``calsync-sync``), and, once the bus runs, two loops start: channel renewal
and safety resync. Both run only on the elected leader (``daemon/leader.py``: a
PostgreSQL advisory lock; SQLite is always the leader), and are cancelled at shutdown
before the bus stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from aiohttp import web

from calsync.crypto import Cipher
from calsync.envelope import TOPIC_SIGNALS
from channels.renewal import RenewalPolicy
from daemon.appkeys import CLOCK, DATABASE, METRICS, SETTINGS
from daemon.background import cancel_all, every
from daemon.bus.base import Bus, Record
from daemon.leader import LeaderElector, LeaderSettings
from handlers.adapters import ADAPTERS, AdapterRegistry
from handlers.channels import ChannelManager
from handlers.renewal_scheduler import RenewalScheduler, SpreadPolicy
from handlers.resync import ResyncScheduler
from handlers.signals import WaitingCalendars
from handlers.sync import CONSUMER_GROUP, SyncConsumer, SyncOptions

log = structlog.get_logger("calsync.sync_wiring")

WEBHOOK_PATHS = {"google": "/webhooks/google", "microsoft": "/webhooks/graph"}


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """Named defaults; not yet in ``daemon/config.py`` (see DESIGN.md)."""

    sync: SyncOptions = field(default_factory=SyncOptions)
    renewal: RenewalPolicy = field(default_factory=RenewalPolicy)
    renewal_interval: float = 60.0  # seconds between renewal planning rounds
    resync_interval: timedelta = timedelta(minutes=15)
    resync_jitter: float = 0.1  # +- share of the interval, stable per calendar
    resync_check_interval: float = 30.0
    loops: bool = True  # tests that drive ticks by hand turn the loops off
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    spread: SpreadPolicy = field(default_factory=SpreadPolicy)


@dataclass(slots=True)
class SyncRuntime:
    settings: SyncSettings
    cipher: Cipher
    # Shared by the webhooks and the sync consumer of this process; off unless install() enables it.
    waiting: WaitingCalendars = field(default_factory=lambda: WaitingCalendars(enabled=False))
    consumer: SyncConsumer | None = None
    channels: ChannelManager | None = None
    resync: ResyncScheduler | None = None
    leader: LeaderElector | None = None
    scheduler: RenewalScheduler | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


SYNC = web.AppKey("sync_runtime", SyncRuntime)


def webhook_address(public_url: str, provider: str) -> str:
    return public_url.rstrip("/") + WEBHOOK_PATHS.get(provider, f"/webhooks/{provider}")


def _setup_consumer(app: web.Application, bus: Bus) -> None:
    runtime = app[SYNC]
    db, clock, public_url = app[DATABASE], app[CLOCK], app[SETTINGS].public_url
    runtime.consumer = SyncConsumer(
        db, app[ADAPTERS], runtime.cipher, clock, runtime.settings.sync, observer=app[METRICS],
        waiting=runtime.waiting,
    )  # fmt: skip
    runtime.channels = ChannelManager(
        db, app[ADAPTERS], runtime.cipher, clock,
        lambda provider: webhook_address(public_url, provider), runtime.settings.renewal,
    )  # fmt: skip
    renewals = app[METRICS].renewals
    runtime.scheduler = RenewalScheduler(
        runtime.channels, app[ADAPTERS], db, clock, runtime.settings.spread,
        observe=lambda provider, action, outcome: renewals.labels(provider, action, outcome).inc(),
    )  # fmt: skip
    runtime.resync = ResyncScheduler(
        db, clock, runtime.settings.resync_interval, runtime.settings.resync_jitter
    )
    consumer = runtime.consumer

    async def handle(record: Record) -> None:
        await consumer.handle(record.value)

    bus.subscribe(TOPIC_SIGNALS, CONSUMER_GROUP, handle)


async def _loops(app: web.Application) -> AsyncIterator[None]:
    runtime = app[SYNC]
    if runtime.settings.loops and runtime.scheduler is not None and runtime.resync is not None:
        s, scheduler, resync = runtime.settings, runtime.scheduler, runtime.resync

        async def lead() -> None:
            # One renewal scheduler per deployment: two would race to renew the same channels.
            async with asyncio.TaskGroup() as group:
                group.create_task(every("renewal", s.renewal_interval, scheduler.tick, app[CLOCK]))
                group.create_task(every("resync", s.resync_check_interval, resync.tick, app[CLOCK]))

        gauge = app[METRICS].leader
        runtime.leader = LeaderElector(
            app[DATABASE].url, app[CLOCK], s.leader, on_change=lambda on: gauge.set(1 if on else 0)
        )
        runtime.tasks = [asyncio.create_task(runtime.leader.run(lead), name="leader")]
    yield
    await cancel_all(runtime.tasks)
    runtime.tasks = []


def install(app: web.Application) -> None:
    from daemon.app import CONSUMERS  # the composition root imports us; import its key lazily

    app[ADAPTERS] = AdapterRegistry()
    # One process per SQLite file, so there this process sees every pass start (see WaitingCalendars).
    waiting = WaitingCalendars(enabled=app[DATABASE].dialect == "sqlite")
    app[SYNC] = SyncRuntime(SyncSettings(), Cipher(app[SETTINGS].secret_keys), waiting=waiting)
    app[CONSUMERS].append(_setup_consumer)
    app.cleanup_ctx.append(_loops)
    from daemon import channel_metrics, status_page  # both import the API package, which imports us

    channel_metrics.install(app)  # channel gauges on /metrics
    status_page.install(app)  # GET /status, the operator page
