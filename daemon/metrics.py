"""Prometheus metrics: one registry per daemon, conventional names, bounded labels only.

Labels are route templates, providers, states and outcomes — never user,
profile or calendar ids. Gauges that mirror the database (outbox backlog) are
refreshed just before each scrape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MetricName = Literal[
    "calsync_http_requests_total",
    "calsync_http_request_duration_seconds",
    "calsync_outbox_pending",
    "calsync_outbox_oldest_age_seconds",
    "calsync_bus_up",
    "calsync_bus_messages_handled_total",
    "calsync_dlq_messages_total",
    "calsync_leader",
    "calsync_channels",
    "calsync_channel_soonest_expiry_seconds",
    "calsync_channel_renewals_total",
    "calsync_notifications_received_total",
    "calsync_notifications_rejected_total",
    "calsync_notification_sync_lag_seconds",
    "calsync_sync_duration_seconds",
    "calsync_consumer_lag",
    "calsync_emails_total",
]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

Refresher = Callable[[], Awaitable[None]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "calsync_http_requests",
            "HTTP requests answered, by route template, method and status class.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "calsync_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "calsync_outbox_pending", "Outbox messages not yet published to the bus.", registry=self.registry
        )
        self.outbox_oldest_age = Gauge(
            "calsync_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox message (0 when none).",
            registry=self.registry,
        )
        self.bus_up = Gauge("calsync_bus_up", "1 when the event bus is reachable.", registry=self.registry)
        self.bus_messages = Counter(
            "calsync_bus_messages_handled",
            "Bus messages handled by consumers, by topic and outcome.",
            ["topic", "outcome"],
            registry=self.registry,
        )
        self.dlq_messages = Counter(
            "calsync_dlq_messages",
            "Messages sent to a dead-letter topic, by source topic.",
            ["topic"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "calsync_leader",
            "1 while this instance is the elected renewal/resync leader.",
            registry=self.registry,
        )
        # Channels (issue 7). Gauges are refreshed from the store before each scrape.
        self.channels = Gauge(
            "calsync_channels",
            "Push channels by provider and view state (active, renewing, expiring_soon, error, stopped).",
            ["provider", "state"],
            registry=self.registry,
        )
        self.soonest_expiry = Gauge(
            "calsync_channel_soonest_expiry_seconds",
            "Seconds until the soonest live channel of a provider expires (negative: lapsed).",
            ["provider"],
            registry=self.registry,
        )
        self.renewals = Counter(
            "calsync_channel_renewals",
            "Channel actions (watch, renew, stop) by provider and outcome (success, failure).",
            ["provider", "action", "outcome"],
            registry=self.registry,
        )
        self.notifications_received = Counter(
            "calsync_notifications_received",
            "Provider notifications accepted by the webhook receivers.",
            ["provider"],
            registry=self.registry,
        )
        self.notifications_rejected = Counter(
            "calsync_notifications_rejected",
            "Provider notifications refused (bad token/clientState, malformed, unknown channel).",
            ["provider", "reason"],
            registry=self.registry,
        )
        self.notification_sync_lag = Histogram(
            "calsync_notification_sync_lag_seconds",
            "From a notification's arrival to the end of the sync pass it triggered.",
            ["provider"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
            registry=self.registry,
        )
        self.sync_duration = Histogram(
            "calsync_sync_duration_seconds",
            "Duration of one calendar sync pass, by provider and outcome.",
            ["provider", "outcome"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "calsync_consumer_lag",
            "Records not yet consumed, by topic and consumer group.",
            ["topic", "group"],
            registry=self.registry,
        )
        self.emails = Counter(
            "calsync_emails",
            "Client e-mails by outcome (sent, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self._refreshers: list[Refresher] = []
        # Label children of the per-request metrics; label values are bounded (routes, outcomes).
        self._http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._notification_children: dict[tuple[str, str], Counter] = {}

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One served request (called for every request: children are looked up once)."""
        key = (route, method, status // 100)
        children = self._http_children.get(key)
        if children is None:
            children = (
                self.http_requests.labels(route, method, f"{status // 100}xx"),
                self.http_duration.labels(route),
            )
            self._http_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    # -- calsync.observe.Observer: what handlers and the bus report ---------------------------
    def notification(self, provider: str, outcome: str) -> None:
        counter = self._notification_children.get((provider, outcome))
        if counter is None:
            counter = (
                self.notifications_received.labels(provider)
                if outcome == "accepted"
                else self.notifications_rejected.labels(provider, outcome)
            )
            self._notification_children[(provider, outcome)] = counter
        counter.inc()

    def sync_pass(self, provider: str, outcome: str, seconds: float, lag: float | None) -> None:
        self.sync_duration.labels(provider, outcome).observe(seconds)
        if lag is not None:
            self.notification_sync_lag.labels(provider).observe(lag)

    def email(self, outcome: str) -> None:
        self.emails.labels(outcome).inc()

    def bus_handled(self, topic: str, outcome: str) -> None:
        self.bus_messages.labels(topic, outcome).inc()
        if outcome == "dead_lettered":
            self.dlq_messages.labels(topic).inc()

    def on_scrape(self, refresher: Refresher) -> None:
        """Register a coroutine that updates gauges from their source before each scrape."""
        self._refreshers.append(refresher)

    async def render(self) -> bytes:
        for refresh in self._refreshers:
            await refresh()
        return generate_latest(self.registry)
