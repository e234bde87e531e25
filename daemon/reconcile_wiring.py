"""Wiring of reconciliation and notifications: two consumers and the notifier's retry sweep.

``install(app)`` runs inside ``create_app`` after ``sync_wiring`` (it uses the shared
adapter registry) and leaves a mutable ``ReconcileRuntime`` at ``app[RECONCILE]``; tests
may replace ``app[RECONCILE].settings`` before start-up. At start-up the reconciler
subscribes to ``calsync.changes`` (group ``calsync-reconcile``) and the notifier to
``calsync.appointments`` (group ``calsync-notify``); once the bus runs, the sweep loop
retries due notifications until shutdown cancels it (before the bus stops).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from calsync.crypto import Cipher
from calsync.envelope import TOPIC_APPOINTMENTS, TOPIC_CHANGES
from daemon.appkeys import CLOCK, DATABASE, METRICS, SETTINGS
from daemon.background import cancel_all, every
from daemon.bus.base import Bus, Record
from handlers.adapters import ADAPTERS
from handlers.host_webhook import HostWebhookSender
from handlers.mailer import SmtpMailer, parse_smtp_url
from handlers.notify import CONSUMER_GROUP as NOTIFY_GROUP
from handlers.notify import Notifier
from handlers.notify_policy import RetryPolicy
from handlers.reconcile import CONSUMER_GROUP as RECONCILE_GROUP
from handlers.reconcile import ReconcileConsumer

log = structlog.get_logger("calsync.reconcile_wiring")


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """Named defaults; not yet in ``daemon/config.py`` (a ``CALSYNC_MAIL_FROM`` is wanted)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sweep_interval: float = 15.0
    mail_from: str | None = None  # default: calsync@<host of the public URL>
    smtp_timeout: float = 30.0  # the whole SMTP conversation
    webhook_timeout: float = 15.0
    loops: bool = True


@dataclass(slots=True)
class ReconcileRuntime:
    settings: NotifySettings
    reconciler: ReconcileConsumer | None = None
    notifier: Notifier | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


RECONCILE = web.AppKey("reconcile_runtime", ReconcileRuntime)


def _mail_from(public_url: str, configured: str | None) -> str:
    return configured or f"calsync@{urlsplit(public_url).hostname or 'localhost'}"


def _setup_consumers(app: web.Application, bus: Bus) -> None:
    runtime, settings = app[RECONCILE], app[SETTINGS]
    db, clock, cipher = app[DATABASE], app[CLOCK], Cipher(settings.secret_keys)
    s = runtime.settings
    reconciler = runtime.reconciler = ReconcileConsumer(db, app[ADAPTERS], cipher, clock)
    mailer = (
        SmtpMailer(parse_smtp_url(settings.smtp_url), timeout=s.smtp_timeout) if settings.smtp_url else None
    )
    runtime.notifier = Notifier(
        db, clock, cipher, mailer, HostWebhookSender(timeout=s.webhook_timeout),
        mail_from=_mail_from(settings.public_url, s.mail_from), policy=s.retry, observer=app[METRICS],
    )  # fmt: skip

    async def reconcile(record: Record) -> None:
        await reconciler.handle(record.value)

    async def notify(record: Record) -> None:
        # Looked up per record: tests swap in a notifier aimed at their own SMTP server.
        if runtime.notifier is not None:
            await runtime.notifier.handle(record.value)

    bus.subscribe(TOPIC_CHANGES, RECONCILE_GROUP, reconcile)
    bus.subscribe(TOPIC_APPOINTMENTS, NOTIFY_GROUP, notify)


async def _loops(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RECONCILE]
    if runtime.settings.loops:

        async def sweep() -> None:
            # Looked up per round: tests swap in a notifier aimed at their own SMTP server.
            if runtime.notifier is not None:
                await runtime.notifier.sweep()

        loop = every("notify_sweep", runtime.settings.sweep_interval, sweep, app[CLOCK])
        runtime.tasks = [asyncio.create_task(loop)]
    yield
    await cancel_all(runtime.tasks)
    runtime.tasks = []


def install(app: web.Application) -> None:
    from daemon.app import CONSUMERS  # the composition root imports us; import its key lazily

    app[RECONCILE] = ReconcileRuntime(NotifySettings())
    app[CONSUMERS].append(_setup_consumers)
    app.cleanup_ctx.append(_loops)
