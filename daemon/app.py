"""Composition root: builds the aiohttp Application and owns every long-lived resource.

Start-up order (cleanup_ctx): database (reachable, schema current) -> bus and
its consumers -> outbox relay. Shutdown runs it backwards after aiohttp has
stopped listening and let in-flight requests finish: the relay stops, the bus
drains its consumers (the handler call in flight completes and is committed),
then the database closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from calsync.clock import Clock, SystemClock
from daemon.appkeys import CLOCK, DATABASE, LIFECYCLE, METRICS, SETTINGS, Lifecycle
from daemon.bus import create_bus
from daemon.bus.base import Bus
from daemon.bus.relay import OutboxRelay
from daemon.buskeys import BUS, RELAY
from daemon.config import Settings
from daemon.health import add_health_routes
from daemon.metrics import Metrics
from daemon.middleware import request_context
from store.db import Database
from store.migrate import ensure_current

log = structlog.get_logger("calsync.daemon")

# Consumers register themselves on the bus before it starts (later issues add sync, reconcile, notify).
ConsumerSetup = Callable[[web.Application, Bus], None]
CONSUMERS = web.AppKey("consumers", list[ConsumerSetup])


async def _database(app: web.Application) -> AsyncIterator[None]:
    db = app[DATABASE]
    await db.ping()
    await ensure_current(db)
    log.info("database_ready", dialect=db.dialect)
    yield
    await db.close()


async def _bus(app: web.Application) -> AsyncIterator[None]:
    settings, db, clock = app[SETTINGS], app[DATABASE], app[CLOCK]
    bus = create_bus(settings, db, clock, observer=app[METRICS])
    for setup in app[CONSUMERS]:
        setup(app, bus)
    relay = OutboxRelay(db, bus, clock)
    db.on_outbox_commit(relay.notify)
    app[BUS] = bus
    app[RELAY] = relay
    metrics = app[METRICS]

    async def refresh() -> None:
        backlog = await relay.backlog()
        metrics.outbox_pending.set(backlog.pending)
        metrics.outbox_oldest_age.set(backlog.oldest_age_seconds)
        metrics.bus_up.set(1 if (await bus.health()).ok else 0)
        for (group, topic), behind in (await bus.lag()).items():
            metrics.consumer_lag.labels(topic, group).set(behind)

    metrics.on_scrape(refresh)
    await bus.start()
    await relay.start()
    log.info("bus_started", kind="kafka" if settings.uses_kafka else "embedded")
    yield

    # Bounded: a handler that hangs must not keep the process from exiting. What it had not
    # committed is redelivered after the restart (at-least-once), so terminate() loses nothing.
    async def drain() -> None:
        await relay.stop()
        await bus.stop()

    try:
        # aiohttp already gave in-flight requests shutdown_timeout; half of it again for the bus
        # keeps the whole exit under 10 s with the 6 s default.
        await asyncio.wait_for(drain(), settings.shutdown_timeout / 2)
    except TimeoutError:
        log.warning("bus_stop_timed_out", timeout=settings.shutdown_timeout)
        await bus.terminate()
    log.info("bus_stopped")


async def _mark_draining(app: web.Application) -> None:
    app[LIFECYCLE].draining = True
    log.info("shutdown_started")


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    from daemon.api import setup_api  # the API package registers its own routes and middlewares

    app = web.Application(middlewares=[request_context], client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[DATABASE] = Database(settings.database_url)
    app[METRICS] = Metrics()
    app[LIFECYCLE] = Lifecycle()
    app[CONSUMERS] = []
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_bus)
    app.on_shutdown.append(_mark_draining)
    add_health_routes(app)
    setup_api(app)
    from daemon import sync_wiring  # shared adapter registry, sync consumer, renewal + resync loops

    sync_wiring.install(app)
    from daemon import google_wiring  # the Google adapter and POST /webhooks/google

    google_wiring.install(app)
    from daemon import graph_wiring  # the Graph adapter, POST /webhooks/graph(/lifecycle), lifecycle worker

    graph_wiring.install(app)
    from daemon import push_wiring  # the push worker on calsync.appointments and its retry pass

    push_wiring.install(app)
    from daemon import reconcile_wiring  # reconcile + notify consumers and the notification retry sweep

    reconcile_wiring.install(app)
    return app
