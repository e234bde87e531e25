"""Typed keys for what the aiohttp Application owns (set by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from calsync.clock import Clock
from daemon.config import Settings
from daemon.metrics import Metrics
from store.db import Database


@dataclass(slots=True)
class Lifecycle:
    """Mutable run state: set to draining when shutdown starts, so readiness fails first."""

    draining: bool = False


SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
CLOCK = web.AppKey("clock", Clock)
METRICS = web.AppKey("metrics", Metrics)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
