"""The real app: /metrics carries the leader flag and channel gauges, /status and /v1/channels are served."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from daemon.app import create_app
from daemon.config import Settings
from daemon.sync_wiring import SYNC
from store.api_keys import create_key
from store.db import Database
from tests.conftest import _migrate

Client = TestClient[web.Request, web.Application]


async def test_metrics_status_and_openapi(
    sqlite_url: str, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> None:
    _migrate(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, secret_keys=(Fernet.generate_key().decode(),)))
    client = await aiohttp_client(app)
    for _ in range(100):  # the elector starts with the loops, right after start-up
        if app[SYNC].leader is not None and app[SYNC].leader.is_leader:
            break
        await asyncio.sleep(0.02)
    body = await (await client.get("/metrics")).text()
    assert "calsync_leader 1.0" in body  # SQLite: the single process leads
    assert 'calsync_channels{provider="google",state="expiring_soon"} 0.0' in body
    db = Database(sqlite_url)
    try:
        async with db.session() as s:
            key, _ = await create_key(s, "ops", None, datetime.now(UTC), True)
    finally:
        await db.close()
    status = await client.get("/status", params={"key": key})
    assert status.status == 200 and "renewals here:" in await status.text()
    assert "(leader)" in await status.text()
    listing = await client.get("/v1/channels", headers={"Authorization": f"Bearer {key}"})
    assert listing.status == 200 and (await listing.json()) == {"items": [], "next_cursor": None}
    document = await (await client.get("/v1/openapi.json")).json()
    assert "/v1/channels" in document["paths"]
