"""An API app wired for connecting calendars: the real API, sync runtime and Google adapter + emulator.

``connect_stack`` serves the Google emulator on loopback and builds the API app with
the pieces the connection views use: ``SYNC`` (cipher, ``ChannelManager``) and the
adapter registry holding a real ``GoogleAdapter`` pointed at the emulator. No bus runs:
signals and push requests stay in the outbox, where the tests read them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

from calsync.clock import FakeClock
from calsync.crypto import Cipher
from channels.emulators.google import EmulatorConfig, GoogleEmulator
from channels.emulators.google import create_app as create_emulator_app
from channels.google.adapter import GoogleAdapter
from channels.throttle import Backoff
from daemon.api import setup_api
from daemon.appkeys import CLOCK, DATABASE, SETTINGS
from daemon.config import Settings
from daemon.sync_wiring import SYNC, SyncRuntime, SyncSettings
from handlers.adapters import ADAPTERS, AdapterRegistry
from handlers.channels import ChannelManager
from store.db import Database
from tests.api.conftest import Api

Client = TestClient[web.Request, web.Application]
USER = "ada@example.com"
CLIENT_ID = "calsync-api.apps.googleusercontent.com"


@dataclass
class Stack:
    api: Api
    emulator: GoogleEmulator
    refresh_token: str  # calsync's token for USER

    def connect_body(self, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "profile": "p1",
            "provider": "google",
            "client_id": CLIENT_ID,
            "client_secret": "s3cret-client",
            "refresh_token": self.refresh_token,
        }
        body.update(changes)
        return body

    def live_channels(self) -> list[Any]:
        return [c for c in self.emulator.channels.channels.values() if not c.stopped]


@asynccontextmanager
async def connect_stack(
    database: Database,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    *,
    secret_key: bool = True,
    manager: bool = True,
) -> AsyncIterator[Stack]:
    emulator = GoogleEmulator(
        config=EmulatorConfig(allow_http_callbacks=True, push_retry_scale=0.001, push_max_attempts=1)
    )
    server = TestServer(create_emulator_app(emulator), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    clock = FakeClock()
    app = web.Application()
    app[SETTINGS] = Settings()
    app[DATABASE] = database
    app[CLOCK] = clock
    setup_api(app)
    registry = app[ADAPTERS] = AdapterRegistry()
    registry.register(
        GoogleAdapter(f"{base}/calendar/v3", f"{base}/token", clock, backoff=Backoff(0.01, 0.05))
    )
    cipher = Cipher((Fernet.generate_key().decode(),) if secret_key else ())
    runtime = app[SYNC] = SyncRuntime(SyncSettings(loops=False), cipher)
    if manager:
        # Google's pushes go nowhere useful here (the app has no webhook route): only channels count.
        runtime.channels = ChannelManager(
            database, registry, cipher, clock, lambda provider: f"{base}/nowhere/{provider}"
        )
    emulator.create_user(USER, time_zone="Europe/Berlin")
    token = emulator.add_refresh_token(USER, client_id=CLIENT_ID)
    try:
        yield Stack(Api(await aiohttp_client(app), database, clock), emulator, token)
    finally:
        await emulator.close()
        await server.close()
