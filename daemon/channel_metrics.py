"""Channel gauges for Prometheus, refreshed from the store just before each scrape.

``calsync_channels{provider,state}`` counts channels by *view* state (the operator's
vocabulary from ``handlers.channel_health``), and
``calsync_channel_soonest_expiry_seconds{provider}`` is the time left on the live
channel closest to expiry. Labels are bounded: providers and states, never ids.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from sqlmodel import col, select

from calsync.clock import Clock
from daemon.appkeys import CLOCK, DATABASE, METRICS
from daemon.metrics import Metrics
from handlers.channel_health import VIEW_STATES, HealthPolicy, view_state
from store.db import Database
from store.tables import Channel

PROVIDERS = ("google", "microsoft")


async def snapshot(
    db: Database, now: datetime, policy: HealthPolicy
) -> tuple[dict[tuple[str, str], int], dict[str, float]]:
    """((provider, view state) -> count, provider -> seconds to the soonest live expiry)."""
    async with db.session() as session:
        rows = (
            await session.exec(
                select(Channel.provider, Channel.state, Channel.expires_at).where(
                    col(Channel.state) != "stopped"
                )
            )
        ).all()
        stopped = (await session.exec(select(Channel.provider).where(col(Channel.state) == "stopped"))).all()
    counts: dict[tuple[str, str], int] = {}
    soonest: dict[str, float] = {}
    for provider, state, expires_at in rows:
        view = view_state(state, expires_at, now, policy)
        counts[(provider, view)] = counts.get((provider, view), 0) + 1
        if state in ("active", "error"):
            left = (expires_at - now).total_seconds()
            soonest[provider] = min(soonest.get(provider, left), left)
    for provider in stopped:
        counts[(provider, "stopped")] = counts.get((provider, "stopped"), 0) + 1
    return counts, soonest


def install(app: web.Application, policy: HealthPolicy | None = None) -> None:
    """Register the scrape-time refresher (called from the wiring before the app freezes)."""
    health = policy or HealthPolicy()

    async def refresh() -> None:
        await _refresh(app[METRICS], app[DATABASE], app[CLOCK], health)

    app[METRICS].on_scrape(refresh)


async def _refresh(metrics: Metrics, db: Database, clock: Clock, policy: HealthPolicy) -> None:
    counts, soonest = await snapshot(db, clock.now(), policy)
    providers = sorted({*PROVIDERS, *(p for p, _ in counts)})
    for provider in providers:
        for state in VIEW_STATES:  # zeros too: an alert on a missing series never fires
            metrics.channels.labels(provider, state).set(counts.get((provider, state), 0))
        if provider in soonest:
            metrics.soonest_expiry.labels(provider).set(soonest[provider])
