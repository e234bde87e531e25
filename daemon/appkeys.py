"""Typed keys for what the aiohttp Application owns (set by the composition root)."""

from __future__ import annotations

from aiohttp import web

from calsync.clock import Clock
from daemon.config import Settings
from store.db import Database

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
CLOCK = web.AppKey("clock", Clock)
