"""End-to-end harness: the calsync daemon app on a real port, the Graph emulator delivering to it,
and a test consumer on ``calsync.changes`` — all real components, real time."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from calsync.clock import SystemClock
from calsync.envelope import TOPIC_CHANGES, decode
from channels.emulators.graph import GraphEmulator, GraphEmulatorConfig, SeededUser, create_app
from daemon.app import CONSUMERS
from daemon.app import create_app as create_daemon
from daemon.bus.base import Bus, Record
from daemon.config import Settings
from daemon.sync_wiring import SYNC, SyncSettings
from handlers.channels import ChannelManager
from handlers.sync import SyncOptions
from tests.graph.seed import CIPHER_KEY, seed_calendar


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    emulator: GraphEmulator
    user: SeededUser
    app: web.Application
    calendar_id: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def channels(self) -> ChannelManager:
        manager = self.app[SYNC].channels
        assert manager is not None
        return manager

    async def wait_for(self, predicate: Any, limit_s: float = 1.0) -> list[dict[str, Any]]:
        """Changes seen so far once ``predicate(changes)`` holds, or fail after ``limit_s``."""
        async with asyncio.timeout(limit_s):
            while not predicate(self.changes):
                self.arrived.clear()
                await self.arrived.wait()
        return self.changes


@asynccontextmanager
async def graph_stack(database_url: str, kafka_bootstrap: tuple[str, ...] = ()) -> AsyncIterator[Stack]:
    clock = SystemClock()
    emulator = GraphEmulator(
        clock, GraphEmulatorConfig(allow_http_callbacks=True, delivery_poll_interval_s=0.02)
    )
    await emulator.start()
    emu_runner = web.AppRunner(create_app(emulator))
    await emu_runner.setup()
    emu_port = free_port()
    await web.TCPSite(emu_runner, "127.0.0.1", emu_port).start()
    emu = f"http://127.0.0.1:{emu_port}"
    user = emulator.add_user("alice@contoso.com", "Alice")
    port = free_port()
    settings = Settings(
        listen_port=port, public_url=f"http://127.0.0.1:{port}", database_url=database_url,
        kafka_bootstrap=kafka_bootstrap, kafka_enable_idempotence=False, secret_keys=(CIPHER_KEY,),
        graph_api_url=f"{emu}/v1.0", graph_token_url=f"{emu}/{user.tenant_id}/oauth2/v2.0/token",
    )  # fmt: skip
    app = create_daemon(settings, clock=clock)
    app[SYNC].settings = SyncSettings(sync=SyncOptions(min_interval=0.05), loops=False)
    stack = Stack(emulator, user, app, "")

    def listen(app: web.Application, bus: Bus) -> None:
        async def handle(record: Record) -> None:
            stack.changes.append(dict(decode(record.value).data))
            stack.arrived.set()

        bus.subscribe(TOPIC_CHANGES, "graph-e2e", handle)

    app[CONSUMERS].append(listen)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        from store.db import Database

        db = Database(database_url)
        _, stack.calendar_id = await seed_calendar(
            db, clock.now(), refresh_token=user.refresh_token, client_id=user.client_id
        )
        await db.close()
        yield stack
    finally:
        await runner.cleanup()
        await emu_runner.cleanup()
        await emulator.stop()
