"""Wiring of the Microsoft Graph channel: the adapter, its token persistence, the webhook views and
the lifecycle worker.

Runs after ``sync_wiring.install`` (it needs the adapter registry and the cipher). Rotated refresh
tokens are persisted in their own transaction as soon as Microsoft hands them out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from channels.graph.adapter import MAX_SUBSCRIPTION_LIFETIME, GraphAdapter
from daemon.appkeys import CLOCK, DATABASE, METRICS, SETTINGS
from daemon.sync_wiring import SYNC
from handlers.adapters import ADAPTERS
from handlers.channels import ChannelManager
from handlers.graph_lifecycle import GraphLifecycle
from handlers.webhooks.graph_view import GraphWebhook, add_graph_webhook
from store import accounts


@dataclass(frozen=True, slots=True)
class GraphLimits:
    """Per-mailbox pacing (MS-THRL): 10,000 requests / 10 min and 4 concurrent per app+mailbox."""

    rate_per_second: float = 16.0
    burst: float = 20.0
    concurrency: int = 4
    subscription_lifetime: timedelta = MAX_SUBSCRIPTION_LIFETIME


GRAPH_ADAPTER = web.AppKey("graph_adapter", GraphAdapter)
GRAPH_LIFECYCLE = web.AppKey("graph_lifecycle", GraphLifecycle)


def install(app: web.Application, limits: GraphLimits | None = None) -> None:
    settings, clock, db = app[SETTINGS], app[CLOCK], app[DATABASE]
    runtime = app[SYNC]
    lim = limits or GraphLimits()

    async def persist(account_id: str, token: str) -> None:
        async with db.session() as session:
            await accounts.save_refresh_token(session, account_id, token, runtime.cipher, clock.now())

    adapter = GraphAdapter(
        settings.graph_api_url,
        settings.graph_token_url,
        clock,
        on_rotate=persist,
        max_lifetime=lim.subscription_lifetime,
        rate_per_second=lim.rate_per_second,
        burst=lim.burst,
        concurrency=lim.concurrency,
    )
    app[ADAPTERS].register(adapter)
    app[GRAPH_ADAPTER] = adapter

    def manager() -> ChannelManager | None:
        return runtime.channels

    lifecycle = GraphLifecycle(db, app[ADAPTERS], runtime.cipher, clock, manager)
    app[GRAPH_LIFECYCLE] = lifecycle
    webhook = GraphWebhook(
        db, clock, on_lifecycle=lifecycle.submit, observer=app[METRICS], waiting=app[SYNC].waiting
    )
    add_graph_webhook(app, webhook)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        yield
        await lifecycle.drain()
        await adapter.close()

    app.cleanup_ctx.append(resources)
