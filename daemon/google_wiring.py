"""Wiring of the Google channel: the adapter (into the shared registry) and ``POST /webhooks/google``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from channels.google.adapter import GoogleAdapter
from daemon.appkeys import CLOCK, DATABASE, METRICS, SETTINGS
from daemon.sync_wiring import SYNC
from handlers.adapters import ADAPTERS
from handlers.webhooks.google_view import GoogleWebhook, add_google_webhook


@dataclass(frozen=True, slots=True)
class GoogleLimits:
    """Per-account pacing. Google's per-user quota is unpublished (600/min is second-hand);
    5 req/s sustained (300/min) with bursts of 10 stays well under it."""

    rate_per_second: float = 5.0
    burst: float = 10.0
    concurrency: int = 4


def install(app: web.Application, limits: GoogleLimits | None = None) -> None:
    settings, clock = app[SETTINGS], app[CLOCK]
    lim = limits or GoogleLimits()
    app[ADAPTERS].register(
        GoogleAdapter(
            settings.google_api_url,
            settings.google_token_url,
            clock,
            rate_per_second=lim.rate_per_second,
            burst=lim.burst,
            concurrency=lim.concurrency,
        )
    )
    webhook = GoogleWebhook(app[DATABASE], clock, observer=app[METRICS], waiting=app[SYNC].waiting)
    add_google_webhook(app, webhook)
