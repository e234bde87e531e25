"""App keys for the event bus and the outbox relay (kept apart so API code need not import the bus)."""

from __future__ import annotations

from aiohttp import web

from daemon.bus.base import Bus
from daemon.bus.relay import OutboxRelay

BUS = web.AppKey("bus", Bus)
RELAY = web.AppKey("relay", OutboxRelay)
